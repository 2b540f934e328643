// ticketing: the server (default), `ticketing migrate`, and `ticketing token`.
#include "app/server_main.hpp"

#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "serve") return ticketing::app::Serve();
  if (command == "migrate") return ticketing::app::MigrateOnly();
  if (command == "token") return ticketing::app::PrintToken(argc - 2, argv + 2);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << "usage: ticketing [serve]\n"
                 "       ticketing migrate\n"
                 "       ticketing token --user ID [--admin] [--ttl SECONDS]\n"
                 "Configuration comes from the environment and ./.env (see README).\n";
    return 0;
  }
  std::cerr << "ticketing: unknown command '" << command << "' (try --help)\n";
  return 2;
}
