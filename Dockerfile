# The pgwarden worker (and CLI) image. Build: docker build -t pgwarden .
# Node 24 (LTS; 22 works too: --build-arg NODE_VERSION=22.23.4). pgwarden runs on Node 20, 22 and 24.
ARG NODE_VERSION=24.20.0
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
# PostgreSQL from apt.postgresql.org, one server package per major version the worker serves: point-in-time
# restores start the backup's own major version (initdb, pg_ctl, postgres), and the client tools come with it
# (pg_dump of the newest major dumps every older server). Add the majors of your clusters: --build-arg PG_MAJORS="17 16 15".
# zstd compresses; gnupg is the emergency decrypt path.
ARG PG_MAJORS="17 16"
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg zstd tar \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common \
 && sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
 && apt-get install -y --no-install-recommends $(for major in ${PG_MAJORS}; do echo "postgresql-${major}"; done) \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
# What runs, and only that: the build also compiles test/ and bench/, which stay in the build stage.
COPY --from=build /app/dist/workflows-bundle.js dist/
COPY --from=build /app/dist/domain dist/domain
COPY --from=build /app/dist/config dist/config
COPY --from=build /app/dist/activities dist/activities
COPY --from=build /app/dist/workflows dist/workflows
COPY --from=build /app/dist/worker dist/worker
COPY --from=build /app/dist/client dist/client
ENV PGWARDEN_CONFIG=/etc/pgwarden/pgwarden.yaml
# Data streams through the worker as short-lived buffers: fewer malloc arenas and a small young generation keep
# its resident memory flat (about 250 MiB peak in the benchmark, whatever the database size).
ENV MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=2
USER node
ENTRYPOINT ["node", "/app/dist/client/cli.js"]
CMD ["worker"]
