#include "data/export/zip_error.h"

#include <zip.h>

namespace nnuc::data {

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

}  // namespace nnuc::data
