# syntax=docker/dockerfile:1
# Build stage: compile TypeScript with dev dependencies.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and dist/ only, as the unprivileged node user.
FROM node:22-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node config/gatehouse.yaml ./config/gatehouse.yaml
USER node
EXPOSE 8080 9090
# The admin listener serves /healthz; in a container bind it with GATEHOUSE_ADMIN_LISTEN=0.0.0.0:9090 only on a private network.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["start", "-c", "config/gatehouse.yaml"]
