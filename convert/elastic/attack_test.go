package elastic

import (
	"encoding/json"
	"testing"
)

func TestThreat(t *testing.T) {
	threat, rest := Threat([]string{"attack.t1105", "attack.command_and_control", "attack.t9999.001", "attack.g0007", "detection.emerging_threats"})
	b, _ := json.Marshal(threat)
	want := `[{"framework":"MITRE ATT\u0026CK","tactic":{"id":"TA0011","name":"Command And Control","reference":"https://attack.mitre.org/tactics/TA0011"},"technique":[{"id":"T9999","name":"T9999","reference":"https://attack.mitre.org/techniques/T9999","subtechnique":[{"id":"T9999.001","name":"T9999.001","reference":"https://attack.mitre.org/techniques/T9999/001"}]},{"id":"T1105","name":"Ingress Tool Transfer","reference":"https://attack.mitre.org/techniques/T1105","subtechnique":[]}]}]`
	if string(b) != want {
		t.Errorf("threat\n got  %s\n want %s", b, want)
	}
	if len(rest) != 2 || rest[0] != "attack.g0007" || rest[1] != "detection.emerging_threats" {
		t.Errorf("rest %v", rest)
	}
	if th, r := Threat([]string{"attack.t1105"}); len(th) != 0 || len(r) != 1 {
		t.Errorf("technique without tactic: %v %v", th, r)
	}
}
