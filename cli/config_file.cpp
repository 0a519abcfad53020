// config_file.cpp - see config_file.h.
#include "cli/config_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "base/error.h"

namespace simcsepp::cli {

namespace po = boost::program_options;

namespace {

std::string trimmed(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool is_command(const std::vector<std::string>& commands, const std::string& name) {
  return std::find(commands.begin(), commands.end(), name) != commands.end();
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "[" : ", [") + n + "]";
  return s;
}

}  // namespace

void store_config_file(const std::string& path, const std::string& command, const std::vector<std::string>& commands,
                       const po::options_description& options, po::variables_map& vm) {
  if (std::filesystem::is_directory(path)) {
    throw Error("config file is a directory", path, "pass an INI file (key = value lines) to --config");
  }
  std::ifstream in(path);
  if (!in) throw Error("cannot open config file", path, "check the path given to --config");
  const std::string help = "see `simcsepp " + command + " --help` for its options";
  std::string section;  // "" = top level
  std::map<std::string, int> first_line;  // key -> line it was set on (duplicates are errors)
  std::string raw;
  for (int line_no = 1; std::getline(in, raw); ++line_no) {
    const std::string where = path + ":" + std::to_string(line_no);
    if (raw.find('\0') != std::string::npos) {
      throw Error("binary data (a NUL byte) in the config file", where, "--config takes a text INI file");
    }
    const std::string line = trimmed(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') throw Error("section header without ']'", where, "write sections as [train]");
      section = trimmed(line.substr(1, line.size() - 2));
      if (!is_command(commands, section)) {
        throw Error("unknown section [" + section + "]", where,
                    "sections name the command they configure: " + joined(commands));
      }
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      throw Error("not a `key = value` line: '" + line + "'", where, "write one option per line, e.g. batch-size = 64");
    }
    std::string key = trimmed(line.substr(0, eq));
    const std::string value = trimmed(line.substr(eq + 1));
    if (key.rfind("--", 0) == 0) key = key.substr(2);  // `--lr = 1e-5` is a forgivable habit
    std::string owner = section;
    if (const auto dot = key.find('.'); dot != std::string::npos && is_command(commands, key.substr(0, dot))) {
      owner = key.substr(0, dot);
      key = key.substr(dot + 1);
    }
    if (key.empty()) throw Error("empty key", where, "write one option per line, e.g. batch-size = 64");
    if (!owner.empty() && owner != command) continue;  // another command's setting
    if (key == "config" || key == "help") {
      throw Error("'" + key + "' cannot be set in a config file", where, "remove the line");
    }
    if (!options.find_nothrow(key, /*approx=*/false)) {
      throw Error("unknown option '" + key + "' for `simcsepp " + command + "`", where,
                  help + (owner.empty() ? "; an option of another command goes in its [command] section" : ""));
    }
    if (auto [it, fresh] = first_line.emplace(key, line_no); !fresh) {
      throw Error("option '" + key + "' set twice (first on line " + std::to_string(it->second) + ")", where,
                  "keep one of the two lines");
    }
    po::parsed_options parsed(&options);
    po::option opt(key, {value});
    opt.original_tokens = {key, value};
    parsed.options.push_back(std::move(opt));
    try {
      po::store(parsed, vm);
    } catch (const po::error& e) {
      throw Error(std::string(e.what()) + " (value '" + value + "')", where, help);
    }
  }
}

}  // namespace simcsepp::cli
