// Self-signed certificates made at test time with BoringSSL, so tests need no
// openssl binary and no files in the repository.
#pragma once

#include <string>
#include <vector>

namespace imapfront::testing {

struct TestCert {
  std::string cert_path;
  std::string key_path;
  std::string cert_pem;
};

// A fresh directory under $TMPDIR (or /tmp), removed by nobody: tests are
// short-lived and the OS cleans /tmp.
std::string MakeTempDir();

// An ECDSA P-256 (or, with |rsa|, RSA 2048) certificate for |dns_names|
// (the first is also the CN; without |san| it is the only name), written as
// |dir|/|stem|.pem and .key.
TestCert MakeTestCert(const std::string& dir, const std::string& stem,
                      const std::vector<std::string>& dns_names, bool rsa = false, bool san = true);

// root CA -> intermediate CA -> leaf for |name|.
struct TestChain {
  std::string chain_path;      // leaf then intermediate
  std::string leaf_only_path;  // the leaf alone (an incomplete chain)
  std::string key_path;        // the leaf's key
  std::string root_path;       // the root, for clients to trust
};
TestChain MakeTestChain(const std::string& dir, const std::string& name);

void WriteFile(const std::string& path, const std::string& contents);
std::string ReadFile(const std::string& path);

}  // namespace imapfront::testing
