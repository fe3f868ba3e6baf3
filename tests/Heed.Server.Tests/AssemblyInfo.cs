// The server tests check Unix file modes and drive Debian's chromium: they run on Linux.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
