// libzip's text for one of its error codes (zip_open's `errorp`), for messages. libzip itself stays a
// private dependency: the code is a plain int.
#pragma once

#include <string>

namespace nnuc::data {

std::string zip_error_text(int code);

}  // namespace nnuc::data
