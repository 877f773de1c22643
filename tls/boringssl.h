// The one place tls/ includes BoringSSL from. It refuses to compile against
// any other OpenSSL-compatible library whose headers might shadow BoringSSL's.
#pragma once

#include <openssl/base.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "imapfront must be built against BoringSSL; the OpenSSL headers were found first"
#endif

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
