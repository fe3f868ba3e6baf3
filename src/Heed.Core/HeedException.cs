namespace Heed;

/// <summary>
/// An input Heed cannot accept: a shape, type, value or file that breaks a stated rule.
/// The message is one line that names the input, the axis or field, what was found and what was expected.
/// </summary>
public class HeedException : Exception
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public HeedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and the error that caused it.</summary>
    public HeedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public HeedException()
        : base("invalid input")
    {
    }
}
