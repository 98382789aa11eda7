# Two images from one file, one per container of the controller pod:
#   docker build --target helm-runner -t planton/helm-runner .
#   docker build --target reconciler  -t planton/helm-reconciler .
# The base images are build arguments: the defaults are the public images; `make images`
# (deploy/images/) builds equivalents from Debian's packages and the pinned toolchains and passes
# them here, on machines with no container engine and no public registry. Build stages fetch only
# from the package registries (Go modules, npm).
ARG GO_IMAGE=golang:1.26-bookworm
ARG NODE_BUILD_IMAGE=node:24-bookworm-slim
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${GO_IMAGE} AS helm-runner-build
WORKDIR /src/helm-runner
COPY helm-runner/go.mod helm-runner/go.sum ./
RUN go mod download
COPY helm-runner/ ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/helm-runner ./cmd/helm-runner

FROM ${NODE_BUILD_IMAGE} AS reconciler-build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src/ ./src/
# Type declarations and source maps of the dependencies are never loaded at run time (half of
# node_modules' size).
RUN npm run build && npm prune --omit=dev \
 && find node_modules -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

# The runner: a static binary with the CA bundle (for https:// and oci:// repositories), no
# shell, non-root. It listens on a unix socket in a volume shared with the reconciler.
FROM scratch AS helm-runner
COPY --from=helm-runner-build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=helm-runner-build /out/helm-runner /helm-runner
USER 65532:65532
ENTRYPOINT ["/helm-runner"]

# The reconciler: Node 24 (the version the project pins), production dependencies only.
FROM ${NODE_IMAGE} AS reconciler
WORKDIR /app
ENV NODE_ENV=production
COPY --from=reconciler-build /src/node_modules ./node_modules
COPY --from=reconciler-build /src/dist ./dist
# The public API's proto files: what gRPC server reflection describes (src/api-server/server.ts).
COPY proto/ ./proto/
COPY package.json ./
# The Deployment's user (as the runner's): numeric, so runAsNonRoot can check it.
USER 65532:65532
# V8 heap flags: a small young generation and an old-space cap make V8 collect before growing
# (make bench, 1000 releases: reconciler peak RSS 247 MiB without, 147 MiB with, no slower).
# Raise --max-old-space-size for much larger fleets per replica.
ENTRYPOINT ["node", "--max-semi-space-size=2", "--max-old-space-size=128", "dist/src/main.js"]
