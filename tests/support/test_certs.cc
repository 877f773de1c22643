#include "tests/support/test_certs.h"

#include <openssl/base.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "tests must use BoringSSL too"
#endif
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace imapfront::testing {

std::string MakeTempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/imapfront-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary);
  f << contents;
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TestCert MakeTestCert(const std::string& dir, const std::string& stem,
                      const std::vector<std::string>& dns_names, bool rsa, bool san_names) {
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (rsa) {
    bssl::UniquePtr<RSA> r(RSA_new());
    bssl::UniquePtr<BIGNUM> e(BN_new());
    BN_set_word(e.get(), RSA_F4);
    RSA_generate_key_ex(r.get(), 2048, e.get(), nullptr);
    EVP_PKEY_assign_RSA(key.get(), r.release());
  } else {
    bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
    EC_KEY_generate_key(ec.get());
    EVP_PKEY_assign_EC_KEY(key.get(), ec.release());
  }

  bssl::UniquePtr<X509> x509(X509_new());
  X509_set_version(x509.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 86400L * 365);
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>(dns_names.front().c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x509.get(), name);
  X509_set_pubkey(x509.get(), key.get());
  std::string san;
  for (const std::string& n : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x509.get(), x509.get(), nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509V3_EXT_nconf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
  if (san_names) X509_add_ext(x509.get(), ext.get(), -1);
  X509_sign(x509.get(), key.get(), EVP_sha256());

  bssl::UniquePtr<BIO> cert_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), x509.get());
  bssl::UniquePtr<BIO> key_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  const uint8_t* data;
  size_t len;
  TestCert out;
  BIO_mem_contents(cert_bio.get(), &data, &len);
  out.cert_pem.assign(reinterpret_cast<const char*>(data), len);
  BIO_mem_contents(key_bio.get(), &data, &len);
  std::string key_pem(reinterpret_cast<const char*>(data), len);
  out.cert_path = dir + "/" + stem + ".pem";
  out.key_path = dir + "/" + stem + ".key";
  WriteFile(out.cert_path, out.cert_pem);
  WriteFile(out.key_path, key_pem);
  return out;
}

namespace {

bssl::UniquePtr<EVP_PKEY> NewEcKey() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  EC_KEY_generate_key(ec.get());
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  EVP_PKEY_assign_EC_KEY(key.get(), ec.release());
  return key;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  X509_add_ext(cert, ext.get(), -1);
}

// A certificate for |cn| with |key|, signed by |issuer| (itself if null).
bssl::UniquePtr<X509> Issue(const std::string& cn, EVP_PKEY* key, X509* issuer,
                            EVP_PKEY* issuer_key, bool ca, long serial) {
  bssl::UniquePtr<X509> cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400L * 30);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer ? issuer : cert.get()));
  X509_set_pubkey(cert.get(), key);
  X509* signer = issuer ? issuer : cert.get();
  if (ca) {
    AddExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(cert.get(), signer, NID_subject_alt_name, ("DNS:" + cn).c_str());
    AddExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
  }
  X509_sign(cert.get(), issuer_key ? issuer_key : key, EVP_sha256());
  return cert;
}

std::string Pem(X509* cert) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

}  // namespace

TestChain MakeTestChain(const std::string& dir, const std::string& name) {
  auto root_key = NewEcKey(), mid_key = NewEcKey(), leaf_key = NewEcKey();
  auto root = Issue("imapfront test root", root_key.get(), nullptr, nullptr, true, 1);
  auto mid =
      Issue("imapfront test intermediate", mid_key.get(), root.get(), root_key.get(), true, 2);
  auto leaf = Issue(name, leaf_key.get(), mid.get(), mid_key.get(), false, 3);
  TestChain out;
  out.chain_path = dir + "/" + name + ".chain.pem";
  out.leaf_only_path = dir + "/" + name + ".leaf.pem";
  out.key_path = dir + "/" + name + ".key";
  out.root_path = dir + "/" + name + ".root.pem";
  WriteFile(out.chain_path, Pem(leaf.get()) + Pem(mid.get()));
  WriteFile(out.leaf_only_path, Pem(leaf.get()));
  WriteFile(out.root_path, Pem(root.get()));
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), leaf_key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  WriteFile(out.key_path, std::string(reinterpret_cast<const char*>(data), len));
  return out;
}

}  // namespace imapfront::testing
