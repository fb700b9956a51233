package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/skiffhq/skiff/netstack/ingress"
	"github.com/skiffhq/skiff/netstack/ingress/acme"
	"github.com/skiffhq/skiff/netstack/ingress/routes"
	"github.com/skiffhq/skiff/server/client"
)

// runIngress serves the node's app router on cfg.IngressListen (HTTP)
// and cfg.IngressHTTPSListen (HTTPS) until ctx ends: every app's hosts
// to the ready pods of its web process, with the table kept by the
// routes syncer from the node's informers. HTTPS serves the ACME
// certificates of the apps' custom domains (with cfg.ACMEEmail) and the
// operator's certificate in Secret skiff-system/ingress-default-tls; a
// host with one is redirected from HTTP to HTTPS. activate starts an
// app scaled to zero, touch records an app's last request (nil:
// neither).
func runIngress(ctx context.Context, cfg NodeConfig, inf *client.Informers, deps nodeDeps, log *slog.Logger) error {
	activate, touch := deps.activate, deps.touch
	var syncer *routes.Syncer
	rcfg := ingress.Config{
		Log: log,
		AccessLog: func(e ingress.AccessEntry) {
			syncer.Observe(e)
			if cfg.IngressAccessLog {
				log.Info("request", "host", e.Host, "app", e.App, "method", e.Method, "path", e.Path, "status", e.Status,
					"bytes", e.Bytes, "duration", e.Duration, "held", e.Held, "backend", e.Backend, "client", e.Client)
			}
		},
	}
	if activate != nil {
		rcfg.Activate = func(ctx context.Context, app string) error { return syncer.Activate(ctx, app) }
	}
	router, err := ingress.New(rcfg)
	if err != nil {
		return err
	}
	defer router.Close()
	syncer, err = routes.New(routes.Config{Informers: inf, Router: router, AppsDomain: cfg.AppsDomain,
		Activate: activate, Touch: touch, Log: log})
	if err != nil {
		return err
	}
	secret := "" // the default: skiff-system/ingress-default-tls
	if !deps.server {
		// A joined node may not read skiff-system's Secrets: the
		// operator's wildcard certificate is served by the server's node.
		secret = "none"
	}
	certs, err := acme.New(acme.Config{Informers: inf, AppsDomain: cfg.AppsDomain, Email: cfg.ACMEEmail,
		DirectoryURL: cfg.ACMEDirectory, CacheDir: cfg.ACMECacheDir, SecretName: secret, Log: log})
	if err != nil {
		return fmt.Errorf("app router certificates: %w (set acmeEmail and acmeDirectory, or --acme-email and --acme-directory)", err)
	}
	ln, err := net.Listen("tcp", cfg.IngressListen)
	if err != nil {
		return fmt.Errorf("app router: %w (set ingressListen, or --ingress-listen none)", err)
	}
	defer ln.Close()
	httpsAddr := cfg.IngressHTTPSListen
	if httpsAddr == "" {
		httpsAddr = ":443"
	}
	var tlsLn net.Listener
	if httpsAddr != "none" {
		if tlsLn, err = net.Listen("tcp", httpsAddr); err != nil {
			return fmt.Errorf("app router HTTPS: %w (set ingressHTTPSListen, or --ingress-https-listen none)", err)
		}
		defer tlsLn.Close()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return syncer.Run(gctx) })
	g.Go(func() error { return certs.Run(gctx) })
	var servers []*http.Server
	serve := func(ln net.Listener, handler http.Handler) {
		srv := router.Server()
		if handler != nil {
			srv.Handler = handler
		}
		srv.BaseContext = func(net.Listener) context.Context { return gctx }
		servers = append(servers, srv)
		g.Go(func() error { return srv.Serve(ln) })
	}
	if tlsLn != nil {
		// Hosts with a certificate go to HTTPS; ACME's HTTP-01
		// challenges are answered on :80.
		serve(ln, router.RedirectHandler(certs.HasCertificate, certs.HTTPHandler()))
		serve(tls.NewListener(tlsLn, certs.TLSConfig()), nil)
		log.Info("app router listening", "address", ln.Addr().String(), "https", tlsLn.Addr().String(),
			"apps-domain", cfg.AppsDomain, "acme", certs.ACME(), "acme-directory", cfg.ACMEDirectory)
	} else {
		serve(ln, nil)
		log.Info("app router listening", "address", ln.Addr().String(), "https", "none", "apps-domain", cfg.AppsDomain)
	}
	<-gctx.Done() // ctx ended, or a part stopped
	shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	for _, srv := range servers {
		if serr := srv.Shutdown(shutdown); serr != nil {
			srv.Close()
		}
	}
	cancel()
	err = g.Wait()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
