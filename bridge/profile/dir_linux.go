package profile

// osDataDir follows the XDG Base Directory specification:
// $XDG_DATA_HOME/parley, else ~/.local/share/parley.
func osDataDir(getenv func(string) string) (string, error) {
	return xdgDataDir(getenv, "parley")
}
