namespace Heed.Server;

/// <summary>Where Heed keeps its token, its discovery file and its user service unit.</summary>
public static class ServerPaths
{
    /// <summary>$XDG_CONFIG_HOME/heed/token, or ~/.config/heed/token.</summary>
    public static string DefaultTokenFile() => Path.Combine(ConfigHome(), "heed", "token");

    /// <summary>$XDG_RUNTIME_DIR/heed/server.json, or ~/.heed/server.json where that variable is unset.</summary>
    public static string DefaultDiscoveryFile()
    {
        string? runtime = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR");
        return string.IsNullOrEmpty(runtime)
            ? Path.Combine(Home(), ".heed", "server.json")
            : Path.Combine(runtime, "heed", "server.json");
    }

    /// <summary>$XDG_CONFIG_HOME/systemd/user/heed.service, or ~/.config/systemd/user/heed.service.</summary>
    public static string DefaultUnitFile() => Path.Combine(ConfigHome(), "systemd", "user", "heed.service");

    private static string ConfigHome()
    {
        string? config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        return string.IsNullOrEmpty(config) ? Path.Combine(Home(), ".config") : config;
    }

    private static string Home()
    {
        string? home = Environment.GetEnvironmentVariable("HOME");
        return string.IsNullOrEmpty(home) ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) : home;
    }
}
