#include "tls/context.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <vector>

#include "tls/ocsp.h"
#include "tls/server_name.h"

namespace imapfront::tls {
namespace {

// TLS 1.2 suites with forward secrecy and AEAD only, in the server's order
// (SSL_OP_CIPHER_SERVER_PREFERENCE): ECDSA before RSA; AES-128-GCM, then
// ChaCha20-Poly1305, then AES-256-GCM. TLS 1.3 suites are fixed by BoringSSL
// and all modern.
constexpr char kCipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384";
static_assert(kWireVersions[static_cast<size_t>(Version::kTls10)] == TLS1_VERSION &&
              kWireVersions[static_cast<size_t>(Version::kTls13)] == TLS1_3_VERSION);

// With tls.min_version "1.0" or "1.1" (an explicit opt-in for old clients):
// the ECDHE AES-CBC-SHA suites after those, the only ones TLS 1.0/1.1 can use.
constexpr char kCbcSuites[] =
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA";

bool ReadWholeFile(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// The certificate in |ctx|'s chain that issued |leaf|, or null.
X509* IssuerInChain(SSL_CTX* ctx, X509* leaf) {
  STACK_OF(X509)* chain = nullptr;
  if (!SSL_CTX_get0_chain_certs(ctx, &chain) || !chain) return nullptr;
  for (size_t i = 0; i < sk_X509_num(chain); ++i) {
    X509* candidate = sk_X509_value(chain, i);
    if (X509_check_issued(candidate, leaf) == X509_V_OK) return candidate;
  }
  return nullptr;
}

// Reads, checks and staples |spec|'s OCSP response; "" or what is wrong.
std::string StapleOcsp(SSL_CTX* ctx, const CertificateSpec& spec) {
  std::vector<uint8_t> der;
  if (!ReadWholeFile(spec.ocsp_file, &der)) {
    return "cannot read " + spec.ocsp_file + ": " + std::strerror(errno);
  }
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  const std::string problem =
      CheckOcspResponse(der, leaf, IssuerInChain(ctx, leaf), std::time(nullptr));
  if (!problem.empty()) return spec.ocsp_file + " " + problem + " (" + spec.cert_file + ")";
  if (!SSL_CTX_set_ocsp_response(ctx, der.data(), der.size())) {
    return spec.ocsp_file + ": " + TakeErrorString("cannot be stapled");
  }
  return "";
}

// The DNS names of |cert|'s subjectAltName, lower case; else its CN.
std::vector<std::string> CertificateDnsNames(const X509* cert) {
  std::vector<std::string> names;
  if (!cert) return names;
  auto lower = [](const unsigned char* data, int len) {
    return LowerServerName(
        std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(len)));
  };
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_STRING* s = name->d.dNSName;
      names.push_back(lower(ASN1_STRING_get0_data(s), ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) return names;
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    names.push_back(lower(ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn)));
  }
  return names;
}

}  // namespace

std::string TakeErrorString(std::string_view fallback) {
  uint32_t code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::string LibraryVersion() {
  return std::string(OpenSSL_version(OPENSSL_VERSION)) + " (API " +
         std::to_string(BORINGSSL_API_VERSION) + ")";
}

std::shared_ptr<const ServerContext> ServerContext::Create(const ServerOptions& options,
                                                           std::vector<std::string>* errors) {
  size_t errors_before = errors->size();
  auto result = std::shared_ptr<ServerContext>(new ServerContext());
  const uint16_t min_version = kWireVersions[static_cast<size_t>(options.min_version)];
  std::string cipher_list = kCipherList;
  if (min_version < TLS1_2_VERSION) cipher_list.append(":").append(kCbcSuites);
  if (options.certificates.empty()) errors->push_back("tls.certificates: at least one is needed");
  for (size_t i = 0; i < options.certificates.size(); ++i) {
    const CertificateSpec& spec = options.certificates[i];
    const std::string where = "tls.certificates[" + std::to_string(i) + "]";
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    if (!ctx) {
      errors->push_back(where + ": " + TakeErrorString("out of memory"));
      continue;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_strict_cipher_list(ctx.get(), cipher_list.c_str());
    SSL_CTX_set_options(ctx.get(), SSL_OP_CIPHER_SERVER_PREFERENCE);
    // One TLS 1.3 ticket per handshake (BoringSSL sends two): a client
    // resumes each new connection with the ticket the last one brought, and
    // every ticket costs a sealed session on the handshake's path.
    SSL_CTX_set_num_tickets(ctx.get(), 1);
    ERR_clear_error();
    if (!SSL_CTX_use_certificate_chain_file(ctx.get(), spec.cert_file.c_str())) {
      errors->push_back(where + ".cert: cannot load certificate chain " + spec.cert_file + ": " +
                        TakeErrorString("unknown error"));
      continue;
    }
    bssl::UniquePtr<BIO> key_bio(BIO_new_file(spec.key_file.c_str(), "r"));
    bssl::UniquePtr<EVP_PKEY> key(
        key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!key) {
      errors->push_back(where + ".key: cannot load private key " + spec.key_file + ": " +
                        TakeErrorString("unknown error"));
      continue;
    }
    if (!SSL_CTX_use_PrivateKey(ctx.get(), key.get()) || !SSL_CTX_check_private_key(ctx.get())) {
      errors->push_back(where + ".key: " + spec.key_file + " does not match certificate " +
                        spec.cert_file);
      ERR_clear_error();
      continue;
    }
    if (!spec.ocsp_file.empty()) {
      if (std::string problem = StapleOcsp(ctx.get(), spec); !problem.empty()) {
        errors->push_back(where + ".ocsp: " + problem);
        continue;
      }
    }
    // The certificate is chosen once the ClientHello is in: by SNI and by
    // what the client can verify. Sessions start on the first context.
    SSL_CTX_set_app_data(ctx.get(), result.get());
    SSL_CTX_set_select_certificate_cb(ctx.get(), &ServerContext::OnClientHello);
    std::vector<std::string> names = spec.names;
    if (names.empty()) names = CertificateDnsNames(SSL_CTX_get0_certificate(ctx.get()));
    Entry entry{std::move(ctx), names, names};
    // Matching ignores ASCII case; so does NeverSelected's comparison.
    for (std::string& n : entry.names) n = LowerServerName(n);
    std::sort(entry.names.begin(), entry.names.end());
    if (EVP_PKEY_id(key.get()) == EVP_PKEY_EC) {
      entry.ecdsa = true;
      switch (EC_GROUP_get_curve_name(EC_KEY_get0_group(EVP_PKEY_get0_EC_KEY(key.get())))) {
        case NID_X9_62_prime256v1:
          entry.group = SSL_CURVE_SECP256R1;
          entry.scheme = SSL_SIGN_ECDSA_SECP256R1_SHA256;
          break;
        case NID_secp384r1:
          entry.group = SSL_CURVE_SECP384R1;
          entry.scheme = SSL_SIGN_ECDSA_SECP384R1_SHA384;
          break;
        case NID_secp521r1:
          entry.group = SSL_CURVE_SECP521R1;
          entry.scheme = SSL_SIGN_ECDSA_SECP521R1_SHA512;
          break;
        default:
          break;
      }
    }
    result->entries_.push_back(std::move(entry));
  }
  if (errors->size() != errors_before) return nullptr;
  const STACK_OF(SSL_CIPHER)* suites = SSL_CTX_get_ciphers(result->entries_.front().ctx.get());
  for (size_t i = 0; i < sk_SSL_CIPHER_num(suites); ++i) {
    result->suites_.push_back(SSL_CIPHER_get_protocol_id(sk_SSL_CIPHER_value(suites, i)));
  }
  return result;
}

bool ServerContext::CanUse(const Entry& e, const ClientAbilities& client) {
  if (!e.ecdsa) return true;  // RSA: every client can verify it
  // A list the client did not send allows anything.
  auto has = [](const std::optional<std::vector<uint16_t>>& list, uint16_t v) {
    return !list || std::ranges::find(*list, v) != list->end();
  };
  if (client.tls13) return has(client.signature_schemes, e.scheme);
  // TLS 1.2: an ECDHE-ECDSA suite, the key's curve, and an ECDSA scheme.
  const bool any_ecdsa_scheme =
      !client.signature_schemes || std::ranges::any_of(*client.signature_schemes, [](uint16_t s) {
        return (s & 0xff) == 0x03;  // 0x0203..0x0603: ECDSA
      });
  return client.ecdsa_suite && has(client.groups, e.group) && any_ecdsa_scheme;
}

SSL_CTX* ServerContext::ContextForName(std::string_view server_name,
                                       const ClientAbilities& client) const {
  auto matches = [&](const Entry& e, bool wildcard) {
    for (const std::string& n : e.names) {
      if (IsWildcardPattern(n) == wildcard && ServerNameMatches(n, server_name)) return true;
    }
    return false;
  };
  const Entry* first_match = nullptr;
  // ECDSA where the client can use it (smaller, faster), else any it can use.
  auto pick = [&](auto&& in_level) -> SSL_CTX* {
    for (bool ecdsa_only : {true, false}) {
      for (const Entry& e : entries_) {
        if (!in_level(e)) continue;
        if (!first_match) first_match = &e;
        if ((!ecdsa_only || e.ecdsa) && CanUse(e, client)) return e.ctx.get();
      }
    }
    return nullptr;
  };
  if (!server_name.empty()) {
    if (SSL_CTX* c = pick([&](const Entry& e) { return matches(e, false); })) return c;
    if (SSL_CTX* c = pick([&](const Entry& e) { return matches(e, true); })) return c;
  }
  if (SSL_CTX* c = pick([&](const Entry& e) { return e.names == entries_.front().names; })) {
    return c;
  }
  return first_match ? first_match->ctx.get() : entries_.front().ctx.get();
}

std::vector<std::vector<std::string>> ServerContext::CertificateNames() const {
  std::vector<std::vector<std::string>> out;
  for (const Entry& e : entries_) out.push_back(e.configured_names);
  return out;
}

std::vector<size_t> ServerContext::NeverSelected() const {
  std::vector<size_t> never;
  for (size_t i = 1; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    bool shadowed = true;  // also when it has no names at all
    for (const std::string& name : e.names) {
      bool claimed = false;
      for (size_t j = 0; j < i && !claimed; ++j) {
        const Entry& earlier = entries_[j];
        claimed = earlier.ecdsa == e.ecdsa && earlier.group == e.group &&
                  std::ranges::binary_search(earlier.names, name);
      }
      if (!claimed) shadowed = false;
    }
    // Clients without a matching name get the default and the certificates
    // with the same names as it.
    if (e.names == entries_.front().names) {
      bool claimed = false;
      for (size_t j = 0; j < i && !claimed; ++j) {
        claimed = entries_[j].ecdsa == e.ecdsa && entries_[j].group == e.group &&
                  entries_[j].names == e.names;
      }
      if (!claimed) shadowed = false;
    }
    if (shadowed) never.push_back(i);
  }
  return never;
}

ssl_select_cert_result_t ServerContext::OnClientHello(const SSL_CLIENT_HELLO* hello) {
  SSL* ssl = hello->ssl;
  const auto* self = static_cast<const ServerContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  const ClientAbilities client = ReadClientAbilities(PartsOf(hello), self->suites_);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* chosen = self->ContextForName(name ? name : "", client);
  if (chosen != SSL_get_SSL_CTX(ssl) && !SSL_set_SSL_CTX(ssl, chosen)) {
    return ssl_select_cert_error;
  }
  return ssl_select_cert_success;
}

bssl::UniquePtr<SSL> ServerContext::NewSession() const {
  bssl::UniquePtr<SSL> ssl(SSL_new(entries_.front().ctx.get()));
  if (ssl) SSL_set_accept_state(ssl.get());
  return ssl;
}

}  // namespace imapfront::tls
