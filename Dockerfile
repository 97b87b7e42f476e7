# The worker and the API (same image, different command). Runbooks call Debian's alembic,
# pg_dump/pg_restore and python3 -m celery, so those come from the distribution.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-alembic python3-psycopg2 python3-sqlalchemy postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
ENV NODE_ENV=production RUNBOOK_TARGETS=/etc/runbooks/targets.yaml
USER node
CMD ["npm", "run", "worker"]
