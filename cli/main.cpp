// main.cpp - the `simcsepp` executable: everything happens in a subcommand (cli.cpp).
#include "cli/command.h"

int main(int argc, char** argv) { return simcsepp::cli::run_cli(argc, argv); }
