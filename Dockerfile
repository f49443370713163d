# Drover's image. The app is built on the host (scripts/provision.sh stages src/, bin/
# and production node_modules) and copied in, so the build needs no network.
#   docker build --build-arg BASE=node:24-bookworm-slim -t drover/drover .tools/images/drover
ARG BASE=node:24-bookworm-slim
FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY node_modules ./node_modules
COPY bin ./bin
COPY src ./src
# Schedulers and workers serve /metrics, /healthz and /readyz on this port, on every interface
# (each container has its own network namespace).
ENV DROVER_METRICS_PORT=9464 DROVER_METRICS_HOST=0.0.0.0
EXPOSE 9464
# Healthy = ready: a replica serving the API, a worker taking assignments. (The one-shot
# `health` command serves no metrics: its container exits before the first check.)
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.DROVER_METRICS_PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/src/main.ts"]
CMD ["health"]
