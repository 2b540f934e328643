#pragma once
// Entry points of the ticketing binary. Each returns the process exit status.
namespace ticketing::app {

int Serve();
int MigrateOnly();
int PrintToken(int argc, char** argv);

}  // namespace ticketing::app
