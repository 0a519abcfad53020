// cli.cpp - argv -> subcommand, options from the command line and an INI config file.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "base/error.h"
#include "base/log.h"
#include "simcsepp/build_config.h"
#include "cli/command.h"
#include "cli/config_file.h"
#include "base/exit_codes.h"

namespace simcsepp::cli {

namespace {

void print_usage(const std::vector<std::unique_ptr<Command>>& commands) {
  std::cout << "simcsepp - train BERT-family sentence encoders with SimCSE++ on many GPUs\n\n"
               "usage: simcsepp <command> [options]     (simcsepp <command> --help for its options)\n\n"
               "commands:\n";
  for (const auto& c : commands) {
    std::cout << "  " << c->name() << std::string(c->name().size() < 10 ? 10 - c->name().size() : 1, ' ')
              << c->summary() << "\n";
  }
  std::cout << "\nEvery option can also be set in an INI file given with --config FILE: key = value lines,\n"
               "optionally in a [<command>] section (or as <command>.key) so one file serves several commands;\n"
               "the command line wins.\n";
}

po::options_description common_options(std::string& config, std::string& log_level) {
  po::options_description common("Common options");
  common.add_options()("help,h", "show this help and exit")("config", po::value(&config)->default_value(""),
                                                            "INI config file; options given on the command line win")(
      "log-level", po::value(&log_level)->default_value("info"), "debug | info | warn | error");
  return common;
}

log::Level parse_level(const std::string& s) {
  if (s == "debug") return log::Level::kDebug;
  if (s == "info") return log::Level::kInfo;
  if (s == "warn") return log::Level::kWarn;
  if (s == "error") return log::Level::kError;
  throw Error("unknown log level '" + s + "'", "--log-level", "use one of debug, info, warn, error");
}

int dispatch(Command& cmd, const std::vector<std::string>& command_names, int argc, char** argv) {
  std::string config, log_level;
  po::options_description all(cmd.name() + " options");
  cmd.add_options(all);
  all.add(common_options(config, log_level));

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(cmd.positional()).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: simcsepp " << cmd.name() << " [options]\n" << cmd.summary() << "\n\n" << all << "\n";
      return kExitOk;
    }
    // Config file second: po::store keeps values already stored, so the command line wins.
    const std::string cfg = vm.count("config") ? vm["config"].as<std::string>() : "";
    if (!cfg.empty()) store_config_file(cfg, cmd.name(), command_names, all, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw Error(e.what(), "simcsepp " + cmd.name(), "see `simcsepp " + cmd.name() + " --help`");
  }
  log::set_level(parse_level(log_level));
  cmd.validate(vm);
  return cmd.run();
}

}  // namespace

int run_cli(int argc, char** argv) {
  auto commands = all_commands();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" || std::string(argv[1]) == "help") {
    print_usage(commands);
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const std::string name = argv[1];
  if (name == "--version") {
    std::cout << "simcsepp " << SIMCSEPP_VERSION << "\n";
    return kExitOk;
  }
  for (auto& c : commands) {
    if (c->name() != name) continue;
    try {
      // Test hook (tests/python/cli_conventions.py): exit 3 is for bugs, which no input reaches.
      if (const char* t = std::getenv("SIMCSEPP_TEST_INTERNAL_ERROR"); t != nullptr && name == t) {
        throw std::logic_error("SIMCSEPP_TEST_INTERNAL_ERROR is set");
      }
      std::vector<std::string> names;
      for (const auto& other : commands) names.push_back(other->name());
      return dispatch(*c, names, argc - 1, argv + 1);
    } catch (const Error& e) {
      std::cerr << "simcsepp " << name << ": error (" << log::where_am_i() << "): " << e.what() << "\n";
      return kExitError;
    } catch (const std::filesystem::filesystem_error& e) {
      // The file system refused (a path that is a file, a read-only directory, a full disk):
      // the environment or the options, not a bug.
      std::cerr << "simcsepp " << name << ": error (" << log::where_am_i() << "): " << e.path1().string()
                << ": " << e.code().message() << " (" << e.what() << ")\n  HINT: check that the path exists, is of "
                << "the kind the option needs (file or directory), is writable and its file system is not full\n";
      return kExitError;
    } catch (const std::exception& e) {
      std::cerr << "simcsepp " << name << ": internal error (" << log::where_am_i() << "): " << e.what() << "\n";
      return kExitInternal;
    }
  }
  std::cerr << "simcsepp: unknown command '" << name << "'\n\n";
  print_usage(commands);
  return kExitUsage;
}

}  // namespace simcsepp::cli
