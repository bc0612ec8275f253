// Package deploy holds no code: its tests check the deployment artifacts
// beside it (the Helm chart, the compose file, the Prometheus rules and
// the Grafana dashboard) with the real tools (helm, promtool) and against
// the mosaicd of this tree, so that none of them can drift from the binary.
// It is a module of its own so that the Kubernetes API types its tests
// decode into stay out of Mosaic's main module.
package deploy
