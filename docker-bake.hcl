# The three logtally images from one build, from the repository root:
#   docker buildx bake                      # all three (group default)
#   docker buildx bake aggregator           # one, with the build it needs
#   VERSION=0.2.0 docker buildx bake --push # other tags, pushed
# Docker Engine's own builder keeps the images; on a docker-container
# builder add --load (or --push) to have them anywhere.
# The target build (build.Dockerfile) runs once; each program's Dockerfile
# takes it as the named context `build`.

variable "VERSION" {
  default = "0.1.0"
}

variable "REGISTRY" {
  default = "ghcr.io/logtally"
}

group "default" {
  targets = ["aggregator", "sidecar", "injector"]
}

# Only the stage the images start from; never tagged or pushed itself.
target "build" {
  context    = "."
  dockerfile = "build.Dockerfile"
  target     = "build"
}

target "aggregator" {
  context    = "."
  dockerfile = "aggregator/Dockerfile"
  contexts   = { build = "target:build" }
  args       = { VERSION = VERSION }
  tags       = ["${REGISTRY}/logtally-aggregator:${VERSION}"]
}

target "sidecar" {
  context    = "."
  dockerfile = "sidecar/Dockerfile"
  contexts   = { build = "target:build" }
  args       = { VERSION = VERSION }
  tags       = ["${REGISTRY}/logtally-sidecar:${VERSION}"]
}

target "injector" {
  context    = "."
  dockerfile = "injector/Dockerfile"
  contexts   = { build = "target:build" }
  args       = { VERSION = VERSION }
  tags       = ["${REGISTRY}/logtally-injector:${VERSION}"]
}
