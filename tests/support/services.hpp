#pragma once
// Real Redis and MariaDB for integration tests: started once per test process through
// scripts/services in a fresh temp dir, stopped (and the dir removed) at process exit.
#include <map>
#include <string>

namespace ticketing::testing {

struct Services {
  std::string dir;
  std::map<std::string, std::string> env;  // DB_HOST, DB_PORT, ..., REDIS_HOST, REDIS_PORT

  // Value of one variable; aborts the test process if scripts/services did not print it.
  const std::string& Get(const std::string& key) const;
  int Port(const std::string& key) const { return std::stoi(Get(key)); }
};

// Starts the services on first call (exits the process with a message if they do not start).
const Services& SharedServices();
// The same with a local Redis Cluster (scripts/services start --cluster: 3 masters, 3
// replicas; REDIS_CLUSTER_NODES, REDIS_CLUSTER_DIR) instead of one redis-server. A test
// process uses one or the other.
const Services& SharedClusterServices();

// Runs `scripts/services stop|start DIR` again (for tests that stop the database mid-run).
void StopDatabase(const Services& s);
void StartDatabase(const Services& s);

}  // namespace ticketing::testing
