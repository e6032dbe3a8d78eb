#include "tools/cli.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <vector>

#include "kernels/core/error.h"

namespace nnuc::tools {

namespace {

bool is_one_dash_word(const std::string& argument) {
  return argument.size() > 2 && argument[0] == '-' && std::isalpha(static_cast<unsigned char>(argument[1])) != 0;
}

bool is_name_character(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-'; }

// Replaces the whole option name "--name" in text that CLI11 wrote (help, error messages).
std::string replace_option_name(std::string text, const std::string& name, const std::string& replacement) {
  const std::string two_dashes = "--" + name;
  for (std::size_t at = text.find(two_dashes); at != std::string::npos; at = text.find(two_dashes, at + 1)) {
    const std::size_t end = at + two_dashes.size();
    if ((at == 0 || !is_name_character(text[at - 1])) && (end == text.size() || !is_name_character(text[end]))) {
      text.replace(at, two_dashes.size(), replacement);
      at += replacement.size() - 1;
    }
  }
  return text;
}

// CLI11 knows nnU-Net's "-np" as "--np"; what it writes shows it as "-np" again (or as "--device,-device"
// in the help of a name declared with both spellings).
std::string with_one_dash(std::string text, const OneDashNames& names, bool help) {
  for (const std::string& name : names.accepted) {
    if (names.two_dashes_too.count(name) == 0)
      text = replace_option_name(text, name, "-" + name);
    else if (help)
      text = replace_option_name(text, name, "--" + name + ",-" + name);
  }
  return text;
}

// CLI11's help, laid out as nnuc's: the synopsis, the description, the options (nnU-Net's one-dash
// names with one dash), the command's exit codes.
class Formatter : public CLI::Formatter {
 public:
  Formatter(std::string usage, std::shared_ptr<OneDashNames> one_dash_names)
      : usage_(std::move(usage)), one_dash_names_(std::move(one_dash_names)) {
    column_width(28);
  }

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    std::string description = app->get_description();
    while (!description.empty() && description.back() == '\n') description.pop_back();
    return "usage: " + usage_ + "\n\n" + description + "\n" + make_groups(app, mode) + "\n" + app->get_footer() + "\n";
  }

  // The type name as the command wrote it ("DIR", "ct|mri"), without CLI11's additions (the checks'
  // descriptions, "x 3" for a fixed count); " ..." marks an option that takes several values.
  std::string make_option_opts(const CLI::Option* option) const override {
    if (option->get_type_size() == 0) return "";
    const std::string type = option->get_type_name();
    std::string text = type.empty() ? "" : " " + type.substr(0, type.find(':'));
    if (option->get_expected_max() == CLI::detail::expected_max_vector_size) text += " ...";
    return text;
  }

  std::string make_option_name(const CLI::Option* option, bool is_positional) const override {
    return with_one_dash(CLI::Formatter::make_option_name(option, is_positional), *one_dash_names_, true);
  }

 private:
  std::string usage_;
  std::shared_ptr<OneDashNames> one_dash_names_;
};

}  // namespace

std::string exit_code_help(const std::string& success, const std::string& failure) {
  return "exit codes: 0 " + success + ", 1 " + failure +
         ",\n"
         "            2 usage error (bad arguments or input), 3 internal error (a bug in nnuc)";
}

CommandLine::CommandLine(const std::string& command, const std::string& usage, const std::string& description)
    : command_(command), app_(description, "nnuc " + command), one_dash_names_(std::make_shared<OneDashNames>()) {
  app_.formatter(std::make_shared<Formatter>(usage, one_dash_names_));
  app_.footer([this] { return exit_code_help(success_, failure_); });
}

void CommandLine::exit_codes(const std::string& success, const std::string& failure) {
  success_ = success;
  failure_ = failure;
}

std::string CommandLine::declare(const std::string& names) {
  const std::vector<std::string> spellings = CLI::detail::split_names(names);
  std::string declared;
  for (const std::string& name : spellings) {
    std::string as_declared = name;
    if (is_one_dash_word(name)) {
      one_dash_names_->accepted.insert(name.substr(1));
      as_declared = "-" + name;
      if (std::find(spellings.begin(), spellings.end(), as_declared) != spellings.end()) {
        one_dash_names_->two_dashes_too.insert(name.substr(1));
        continue;  // "--device,-device": CLI11 knows it once, as --device
      }
    }
    declared += (declared.empty() ? "" : ",") + as_declared;
  }
  return declared;
}

Parsed CommandLine::parse(int argc, char** argv) {
  std::vector<std::string> arguments;
  for (int i = 0; i < argc; ++i) {
    std::string argument = argv[i];
    if (argument == "--") {  // everything after is a value, as CLI11 reads it
      for (; i < argc; ++i) arguments.emplace_back(argv[i]);
      break;
    }
    if (is_one_dash_word(argument)) {
      NNUC_CHECK(one_dash_names_->accepted.count(argument.substr(1)) != 0, "nnuc ", command_, ": unknown option '",
                 argument, "' (see nnuc ", command_, " --help)");
      argument.insert(0, "-");
    }
    arguments.push_back(std::move(argument));
  }
  std::vector<std::string> reversed(arguments.rbegin(), arguments.rend());  // CLI11 takes them last first
  try {
    app_.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app_.help().c_str());
    return Parsed::help_shown;
  } catch (const CLI::ParseError& error) {
    NNUC_THROW(InvalidInput, "nnuc ", command_, ": ", with_one_dash(error.what(), *one_dash_names_, false),
               " (see nnuc ", command_, " --help)");
  }
  return Parsed::run;
}

}  // namespace nnuc::tools
