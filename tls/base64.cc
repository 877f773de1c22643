#include "tls/base64.h"

#include "tls/boringssl.h"

namespace imapfront::tls {

bool DecodeBase64(std::string_view in, std::string* out) {
  size_t max = 0;
  if (!EVP_DecodedLength(&max, in.size())) return false;
  out->resize(max);
  size_t length = 0;
  if (!EVP_DecodeBase64(reinterpret_cast<uint8_t*>(out->data()), &length, max,
                        reinterpret_cast<const uint8_t*>(in.data()), in.size())) {
    out->clear();
    return false;
  }
  out->resize(length);
  return true;
}

}  // namespace imapfront::tls
