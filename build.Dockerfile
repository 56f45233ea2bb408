# syntax=docker/dockerfile:1
# The build every logtally image is cut from: each program's Dockerfile names
# it as the build context `build` (`FROM build AS …`, `COPY --from=build …`).
# `docker buildx bake` (docker-bake.hcl) builds it once and passes it on; to
# build it alone, from the repository root:
#   docker buildx build -f build.Dockerfile -t logtally-build:local --load .
# and see the head of aggregator/Dockerfile for building one image from it.
#
# Nothing here is native: no dependency is compiled or runs an install script
# (--ignore-scripts), so the slim image, without compiler or python, builds it
# all, on the Node.js the images run.
ARG NODE_VERSION=26.12.1

# build: every workspace's dependencies, then turbo's generate (proto/src/gen
# from the .proto files) and build of the three programs and what they need.
FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app
# npm ci reads every workspace's package.json the lockfile names.
COPY package.json package-lock.json .npmrc turbo.json tsconfig.base.json ./
COPY proto/package.json proto/
COPY runtime/package.json runtime/
COPY sidecar/package.json sidecar/
COPY injector/package.json injector/
COPY aggregator/package.json aggregator/
COPY testing/package.json testing/
COPY test/package.json test/
# The cache mount (shared with the programs' prod-deps stages) keeps npm's
# downloads out of the image and fetches each package once.
RUN --mount=type=cache,id=logtally-npm,target=/root/.npm \
    npm ci --ignore-scripts
COPY proto/ proto/
COPY runtime/ runtime/
# turbo builds a package's devDependencies too: the test helpers its specs use.
COPY testing/ testing/
COPY sidecar/ sidecar/
COPY injector/ injector/
COPY aggregator/ aggregator/
RUN npm run build -- --filter=@logtally/aggregator... --filter=@logtally/sidecar... --filter=@logtally/injector...
