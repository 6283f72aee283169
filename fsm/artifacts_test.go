package fsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func phaseArtifact(sc *scene) {
	proto3(sc)
	sc.do(CmdArtifactAdd, ArtifactAdd{SHA256: digest, Size: 10, Name: "app.tgz", Holder: "n1"})
}

func TestArtifactCommands(t *testing.T) {
	cases := []txnCase{
		{name: "add records the artifact and its first holder", setup: proto3, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: 10, Name: "app.tgz", Holder: "n1"},
			want: func(s *State) {
				s.Artifacts = map[string]Artifact{digest: {SHA256: digest, Size: 10, Name: "app.tgz", Holders: []string{"n1"}, AddedAt: tCmd}}
			}},
		{name: "add again adds the holder", setup: phaseArtifact, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: 10, Name: "other.tgz", Holder: "n2"},
			want: func(s *State) {
				a := s.Artifacts[digest]
				a.Holders = []string{"n1", "n2"}
				s.Artifacts[digest] = a
			}},
		{name: "add with another size conflicts", setup: phaseArtifact, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: 11, Holder: "n2"}, wantErr: ErrConflict},
		{name: "add with a bad digest", setup: proto3, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: "sha256:" + digest, Size: 1, Holder: "n1"}, wantErr: ErrInvalid},
		{name: "add with a negative size", setup: proto3, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: -1, Holder: "n1"}, wantErr: ErrInvalid},
		{name: "add with a long name", setup: proto3, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: 1, Name: strings.Repeat("a", MaxArtifactName+1), Holder: "n1"}, wantErr: ErrInvalid},
		{name: "add by a holder that is not a member", setup: proto3, typ: CmdArtifactAdd,
			body: ArtifactAdd{SHA256: digest, Size: 1, Holder: "n9"}, wantErr: ErrNotFound},
		{name: "held adds a holder once", setup: func(sc *scene) {
			phaseArtifact(sc)
			sc.do(CmdArtifactHeld, ArtifactHeld{SHA256: digest, Holder: "n3"})
		}, typ: CmdArtifactHeld, body: ArtifactHeld{SHA256: digest, Holder: "n3"}},
		{name: "held of an unknown artifact", setup: proto3, typ: CmdArtifactHeld,
			body: ArtifactHeld{SHA256: digest, Holder: "n2"}, wantErr: ErrNotFound},
		{name: "held by a non-member", setup: phaseArtifact, typ: CmdArtifactHeld,
			body: ArtifactHeld{SHA256: digest, Holder: "n7"}, wantErr: ErrNotFound},
	}
	runTxnCases(t, cases)
}

func TestTxnWithAStoredArtifact(t *testing.T) {
	stored := func(tx *Txn) { tx.ArtifactStored, tx.ArtifactSHA256 = true, digest }
	other := strings.Repeat("ab", 32)
	cases := []txnCase{
		{name: "a held artifact", setup: phaseArtifact, typ: CmdTxnStart, body: TxnStart{Txn: plan(stored)},
			check: func(t *testing.T, s *State) {
				require.True(t, txnOf(s).ArtifactStored)
				require.Equal(t, digest, txnOf(s).ArtifactSHA256)
				require.Empty(t, txnOf(s).ArtifactURL)
			}},
		{name: "an artifact the cluster does not hold", setup: phaseArtifact, typ: CmdTxnStart, wantErr: ErrNotFound,
			body: TxnStart{Txn: plan(stored, func(tx *Txn) { tx.ArtifactSHA256 = other })}},
		{name: "with a URL too", setup: phaseArtifact, typ: CmdTxnStart, wantErr: ErrInvalid,
			body: TxnStart{Txn: plan(stored, func(tx *Txn) { tx.ArtifactURL = "https://x/a" })}},
		{name: "below protocol 3", typ: CmdTxnStart, wantErr: ErrInvalid, body: TxnStart{Txn: plan(stored)}},
	}
	runTxnCases(t, cases)
}

func TestArtifactsSurviveASnapshot(t *testing.T) {
	sc := newScene(t)
	phaseArtifact(sc)
	sc.do(CmdArtifactHeld, ArtifactHeld{SHA256: digest, Holder: "n2"})
	f := restoredFSM(t, sc.s)
	var list []Artifact
	f.View(func(s *State) { list = s.ArtifactList() })
	require.Equal(t, sc.s.ArtifactList(), list)
	require.Equal(t, []string{"n1", "n2"}, list[0].Holders)
}
