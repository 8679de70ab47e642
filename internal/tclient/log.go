package tclient

import (
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
)

// zapLogger lets the SDK log through zap, so a worker writes one log format.
type zapLogger struct{ s *zap.SugaredLogger }

// ZapLogger adapts l to the SDK's logger interface.
func ZapLogger(l *zap.Logger) log.Logger {
	return zapLogger{s: l.WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func (z zapLogger) Debug(msg string, kv ...any) { z.s.Debugw(msg, kv...) }
func (z zapLogger) Info(msg string, kv ...any)  { z.s.Infow(msg, kv...) }
func (z zapLogger) Warn(msg string, kv ...any)  { z.s.Warnw(msg, kv...) }
func (z zapLogger) Error(msg string, kv ...any) { z.s.Errorw(msg, kv...) }
func (z zapLogger) With(kv ...any) log.Logger   { return zapLogger{s: z.s.With(kv...)} }

var _ log.WithLogger = zapLogger{}
