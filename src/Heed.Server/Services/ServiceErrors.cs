namespace Heed.Server.Services;

/// <summary>A request names something the server does not have (a run, a matrix, a model): HTTP 404.</summary>
public sealed class HeedNotFoundException : HeedException
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public HeedNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and cause.</summary>
    public HeedNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public HeedNotFoundException()
        : base("not found")
    {
    }
}

/// <summary>A request conflicts with what the server holds (a matrix name already taken, a run not finished): HTTP 409.</summary>
public sealed class HeedConflictException : HeedException
{
    /// <summary>Creates the exception with its one-line message.</summary>
    public HeedConflictException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and cause.</summary>
    public HeedConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public HeedConflictException()
        : base("conflict")
    {
    }
}
