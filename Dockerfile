# The worker and the API (same image, different command) as compiled JavaScript: `npm run build`
# runs in the build stage; the runtime stage holds production dependencies, dist/ and bin/ only
# (no TypeScript source, no tsx). Runbooks call Debian's alembic, pg_dump/pg_restore and
# python3 -m celery, so those come from the distribution.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-alembic python3-psycopg2 python3-sqlalchemy postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# The data directory (dumps under backups/, step ledgers, run files): the node user's, 0700 as the
# worker keeps it; mount a volume here (a named volume starts with this owner and mode).
RUN install -d -o node -g node -m 0700 /var/lib/runbooks
ENV NODE_ENV=production RUNBOOK_TARGETS=/etc/runbooks/targets.yaml RUNBOOK_DATA_DIR=/var/lib/runbooks
USER node
# The worker; the API is `node dist/api/main.js`, the CLI `bin/runbook.js` (see docker-compose.yml).
CMD ["node", "dist/worker.js"]
