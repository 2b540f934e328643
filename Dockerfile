# Ticketing server image. Build context is the repo root (see .dockerignore).
# Nothing in the normal build/test flow depends on Docker; this is for people
# who prefer `docker compose up`.
FROM debian:12

WORKDIR /src

# Install packages first, from the setup script alone, so this layer stays
# cached while the sources change. The debian image ships a policy-rc.d that
# stops package scripts from starting redis/mariadb, which is what we want.
COPY scripts/setup scripts/setup
RUN SETUP_NO_BROWSER=1 scripts/setup && rm -rf /var/lib/apt/lists/*

COPY . .
# -j with an explicit count: a bare -j means unlimited make jobs, which can
# run out of memory on the Beast-heavy translation units.
RUN cmake --preset release \
    && cmake --build --preset release -j "$(nproc)"

ENV PORT=3000
EXPOSE 3000
CMD ["build/release/ticketing"]
