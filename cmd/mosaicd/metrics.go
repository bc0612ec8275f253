package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mosaiclog/mosaic/internal/buildinfo"
)

// buildInfo is the constant mosaic_build_info gauge naming this binary, with
// what `mosaicd version` prints.
func buildInfo() prometheus.Collector {
	bi := buildinfo.Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "mosaic_build_info",
		Help:        "Build information about the running mosaicd.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	g.Set(1)
	return g
}
