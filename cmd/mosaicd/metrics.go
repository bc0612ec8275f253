package main

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// buildInfo is the constant mosaic_build_info gauge naming this binary.
func buildInfo() prometheus.Collector {
	version, goVersion := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version, goVersion = bi.Main.Version, bi.GoVersion
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "mosaic_build_info",
		Help:        "Build information about the running mosaicd.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	g.Set(1)
	return g
}
