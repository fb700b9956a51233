package remote

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skiffhq/skiff/server/build"
)

// BenchmarkRemoteBuild compares a cached rebuild through Build (tar over
// HTTP/2 and TLS on loopback, unpack, build, stream) with calling
// build.Builder.Build directly on the same tree; it reports both and their
// ratio.
//
//	sudo go test -run '^$' -bench BenchmarkRemoteBuild -benchtime 20x ./server/build/remote/
func BenchmarkRemoteBuild(b *testing.B) {
	for _, size := range []struct {
		name  string
		files int
		bytes int
	}{{"3files", 0, 0}, {"1000files-16MiB", 1000, 16 << 10}} {
		b.Run(size.name, func(b *testing.B) {
			entries := []entry{
				{name: "Dockerfile", content: "FROM " + testBase + "\nRUN echo step > /step.txt\nCOPY . /app/\nCMD [\"/bin/sh\"]\n"},
				{name: "run.sh", content: "#!/bin/sh\n", mode: 0o755},
			}
			for i := range size.files {
				entries = append(entries, entry{name: fmt.Sprintf("src/d%02d/f%04d.txt", i%50, i), content: strings.Repeat("x", size.bytes)})
			}
			tree := makeTree(b, entries)
			builder := testBuilder(b)
			node := &builderNode{dir: b.TempDir() + "/builds", b: builder}
			h, err := NewHandler(HandlerConfig{Dir: node.dir, Builder: func(context.Context) (*build.Builder, error) { return builder, nil }})
			if err != nil {
				b.Fatal(err)
			}
			node.srv = newTLSServer(h)
			defer node.srv.Close()
			image := fmt.Sprintf("skiff.local/test/bench:b%d", time.Now().UnixNano())
			ctx := context.Background()
			if _, err := node.build(ctx, tree, Request{Image: image}, new(syncBuffer)); err != nil {
				b.Fatal(err)
			}
			var remote, direct time.Duration
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				res, err := node.build(ctx, tree, Request{Image: image}, new(syncBuffer))
				remote += time.Since(start)
				if err != nil || res.CachedSteps != res.Steps {
					b.Fatalf("remote rebuild: %v (%d of %d steps cached)", err, res.CachedSteps, res.Steps)
				}
				start = time.Now()
				dres, err := builder.Build(ctx, build.Request{ContextDir: tree, Image: image})
				direct += time.Since(start)
				if err != nil || dres.CachedSteps != dres.Steps {
					b.Fatalf("direct rebuild: %v", err)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(remote.Microseconds())/1000/n, "remote-ms/op")
			b.ReportMetric(float64(direct.Microseconds())/1000/n, "direct-ms/op")
			b.ReportMetric(float64(remote)/float64(direct), "remote/direct")
		})
	}
}
