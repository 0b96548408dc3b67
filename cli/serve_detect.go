package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/web"
)

// serveDetection loads the rules as vigil hunt does (loadRules) and builds
// the detection worker of vigil serve from them; reload loads them again.
type serveDetection struct {
	f      *serveFlags
	log    *slog.Logger
	rules  *detect.Rules
	worker *detect.Worker
	// infos describe the rules for the live console.
	infos map[string]web.RuleInfo
}

func addDetectFlags(fl *pflag.FlagSet, f *serveFlags) {}

func detectRules(rs *ruleSet, builtin bool) *detect.Rules {
	return &detect.Rules{Engine: rs.eng, Normalizer: rs.norm, Correlations: rs.corr, Advisory: builtin, Hidden: rs.hidden}
}

func newServeDetection(f *serveFlags, log *slog.Logger) (*serveDetection, error) {
	rs, err := loadRules(f.load)
	if err != nil {
		return nil, err
	}
	for _, e := range rs.errs {
		log.Warn("rule not loaded", "err", e)
	}
	if f.strictRules && len(rs.errs) > 0 {
		return nil, &exitError{ExitFailure, errors.New("--strict-rules: " + errRules(rs).Error())}
	}
	if len(rs.eng.Rules()) == 0 {
		return nil, &exitError{ExitFailure, errors.New("no rule loaded (" + rs.summary() + ")")}
	}
	log.Info("rules loaded", "summary", rs.summary())
	return &serveDetection{f: f, log: log, rules: detectRules(rs, f.load.builtin), infos: rs.ruleInfos()}, nil
}

func (d *serveDetection) newDetector(ctx context.Context, env serve.DetectorEnv) (serve.Detector, error) {
	w, err := detect.New(ctx, env.JS, d.rules, detect.Options{
		Partitions:  env.Partitions,
		MaxLateness: d.f.maxLateness,
		Failover:    d.f.failover,
		MaxGroups:   d.f.maxGroups,
		Replicas:    env.Replicas,
		Logger:      env.Logger,
		Registerer:  env.Registerer,
	})
	if err != nil {
		return nil, err
	}
	d.worker = w
	return w, nil
}

// reload loads the rules again; a set with any error is refused, so that
// a typo never silently drops rules from a running service.
func (d *serveDetection) reload(ctx context.Context) (string, error) {
	rs, err := loadRules(d.f.load)
	if err != nil {
		return "", err
	}
	if len(rs.errs) > 0 {
		return "", errRules(rs)
	}
	if len(rs.eng.Rules()) == 0 {
		return "", errors.New("no rule loaded (" + rs.summary() + ")")
	}
	d.worker.SetRules(detectRules(rs, d.f.load.builtin))
	return rs.summary(), nil
}
