// command.h - one `simcsepp <name>` subcommand.
//
// A command owns its config struct and binds every field to a Boost.Program_options option with
// its default (so `simcsepp <name> --help` documents all of them). The CLI (cli.cpp) parses the
// command line first and then the optional --config INI file, so the command line wins; then it
// calls validate() (reject nonsense before any work starts) and run().
#pragma once

#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

namespace simcsepp::cli {

namespace po = boost::program_options;

class Command {
 public:
  virtual ~Command() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  // Declare options bound to the command's config struct.
  virtual void add_options(po::options_description& options) = 0;
  // Positional arguments, if any (default: none).
  virtual po::positional_options_description positional() const { return {}; }
  // Throw simcsepp::Error on invalid values; called after parsing, before run().
  virtual void validate(const po::variables_map& vm) {}
  // Returns the process exit code.
  virtual int run() = 0;
};

// All subcommands, in the order `simcsepp --help` lists them (commands.cpp).
std::vector<std::unique_ptr<Command>> all_commands();

// Entry point used by main(): parses argv, dispatches, reports errors. Returns the exit code.
int run_cli(int argc, char** argv);

}  // namespace simcsepp::cli
