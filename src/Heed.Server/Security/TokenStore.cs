using System.Security.Cryptography;

namespace Heed.Server;

/// <summary>The server's bearer token: read from its file, or generated (256 random bits) and stored with mode 0600 on first start.</summary>
public static class TokenStore
{
    /// <summary>Returns the token in <paramref name="path"/>, creating the file when it does not exist or is empty.</summary>
    public static string LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            string existing = File.ReadAllText(path).Trim();
            if (existing.Length >= 32)
            {
                return existing;
            }
        }

        string token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        PrivateFile.WriteAllText(path, token + "\n");
        return token;
    }

    /// <summary>Compares two tokens in time independent of where they differ.</summary>
    public static bool Matches(string expected, string? given) =>
        given is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(expected), System.Text.Encoding.UTF8.GetBytes(given));
}
