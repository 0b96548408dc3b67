package term

import (
	"os"
	"syscall"
)

func isTerminal(f *os.File) bool {
	var mode uint32
	return syscall.GetConsoleMode(syscall.Handle(f.Fd()), &mode) == nil
}

func width(*os.File) int { return 0 }
