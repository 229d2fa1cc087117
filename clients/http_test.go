package clients_test

import (
	"testing"

	"github.com/llmq/llmq/clients"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     clients.Config
		wantErr bool
	}{
		{name: "zero value", cfg: clients.Config{}},
		{name: "idle below cap", cfg: clients.Config{MaxConns: 10, MaxIdleConns: 8}},
		{name: "idle equals cap", cfg: clients.Config{MaxConns: 8, MaxIdleConns: 8}},
		{name: "idle without cap", cfg: clients.Config{MaxIdleConns: 64}},
		{name: "negative MaxConns", cfg: clients.Config{MaxConns: -1}, wantErr: true},
		{name: "negative MaxIdleConns", cfg: clients.Config{MaxIdleConns: -1}, wantErr: true},
		{name: "idle floor above cap", cfg: clients.Config{MaxConns: 4, MinIdleConns: 64}},
		{name: "negative MinIdleConns", cfg: clients.Config{MinIdleConns: -1}, wantErr: true},
		{name: "idle above cap", cfg: clients.Config{MaxConns: 4, MaxIdleConns: 8}, wantErr: true},
		{name: "negative Timeout", cfg: clients.Config{Timeout: -1}, wantErr: true},
		{name: "negative IdleConnTimeout", cfg: clients.Config{IdleConnTimeout: -1}, wantErr: true},
		{name: "negative DialTimeout", cfg: clients.Config{DialTimeout: -1}, wantErr: true},
		{name: "negative TLSHandshakeTimeout", cfg: clients.Config{TLSHandshakeTimeout: -1}, wantErr: true},
		{name: "negative ResponseHeaderTimeout", cfg: clients.Config{ResponseHeaderTimeout: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			_, _, nerr := clients.NewHTTPClient(tt.cfg)
			if (nerr != nil) != tt.wantErr {
				t.Errorf("NewHTTPClient() error = %v, want error %v", nerr, tt.wantErr)
			}
		})
	}
}
