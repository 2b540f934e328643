// ticketing: the server (default), `ticketing migrate`, and `ticketing token`.
#include <sys/prctl.h>

#include <cstring>
#include <iostream>
#include <string>

#include "app/server_main.hpp"
#include "app/supervisor.hpp"
#include "config/config.hpp"

namespace {

// `serve [--workers N|auto]`; WORKERS (environment or .env) when the flag is absent.
int ServeCommand(int argc, char** argv) {
  std::string workers, source = "WORKERS";
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers" && i + 1 < argc) {
      workers = argv[++i];
      source = "--workers";
    } else if (a.rfind("--workers=", 0) == 0) {
      workers = a.substr(10);
      source = "--workers";
    } else {
      std::cerr << "usage: ticketing serve [--workers N|auto]\n";
      return 2;
    }
  }
  if (workers.empty()) {
    workers = ticketing::config::EnvironmentLookup()("WORKERS").value_or("");
    if (workers.empty()) workers = "1";
  }
  auto n = ticketing::app::ParseWorkers(workers);
  if (!n) {
    std::cerr << "ticketing: configuration error: " << source
              << ": expected a number from 1 to 1024 or auto, got '" << workers << "'\n";
    return 2;
  }
  if (*n == 1) return ticketing::app::Serve();
  ticketing::app::SupervisorOptions options;
  options.workers = *n;
  return ticketing::app::Supervise(options);
}

}  // namespace

int main(int argc, char** argv) {
  // A --workers worker is exec'd through /proc/self/exe, which would make its name "exe": name
  // the process after argv[0] (the supervisor passes "ticketing"), so ps and pgrep find it.
  if (argc > 0 && argv[0][0] != '\0') {
    std::string name = argv[0];
    name = name.substr(name.rfind('/') + 1).substr(0, 15);
    prctl(PR_SET_NAME, name.c_str());
  }
  std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "serve") return ServeCommand(argc > 1 ? argc - 2 : 0, argv + 2);
  if (command == "migrate") return ticketing::app::MigrateOnly();
  if (command == "token") return ticketing::app::PrintToken(argc - 2, argv + 2);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << "usage: ticketing [serve [--workers N|auto]]\n"
                 "       ticketing migrate\n"
                 "       ticketing token --user ID [--admin] [--ttl SECONDS]\n"
                 "Configuration comes from the environment and ./.env (see README).\n"
                 "--workers N (or WORKERS=N; auto: one per core): a supervisor runs N server\n"
                 "processes on the port and restarts any that dies.\n";
    return 0;
  }
  std::cerr << "ticketing: unknown command '" << command << "' (try --help)\n";
  return 2;
}
