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
ENTRYPOINT ["node", "/app/src/main.ts"]
CMD ["health"]
