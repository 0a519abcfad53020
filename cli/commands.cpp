// commands.cpp - the list of subcommands. Each lives in its own <name>_command.cpp.
#include "cli/command.h"

namespace simcsepp::cli {

std::unique_ptr<Command> make_inspect_command();
std::unique_ptr<Command> make_export_command();
std::unique_ptr<Command> make_train_command();
std::unique_ptr<Command> make_prep_command();
std::unique_ptr<Command> make_eval_command();
std::unique_ptr<Command> make_embed_command();
std::unique_ptr<Command> make_report_command();

std::vector<std::unique_ptr<Command>> all_commands() {
  std::vector<std::unique_ptr<Command>> c;
  c.push_back(make_prep_command());
  c.push_back(make_train_command());
  c.push_back(make_export_command());
  c.push_back(make_eval_command());
  c.push_back(make_embed_command());
  c.push_back(make_report_command());
  c.push_back(make_inspect_command());
  return c;
}

}  // namespace simcsepp::cli
