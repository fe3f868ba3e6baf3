using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Heed.Models.Blocks;

/// <summary>
/// Pinned arrays whose used part starts on a 64-byte cache line, for weights that a decode step streams from memory. A .NET
/// array's elements start 16 bytes into the object, so the 64-byte vector loads of a row would each straddle two lines;
/// from a line boundary, a row of a multiple of 16 floats is whole lines. A pinned array never moves, so the alignment holds
/// for its life.
/// </summary>
internal static class AlignedStorage
{
    /// <summary>The boundary the used part starts on, in bytes.</summary>
    public const int Alignment = 64;

    /// <summary>
    /// <paramref name="count"/> uninitialized elements starting on an <see cref="Alignment"/> boundary (the caller fills
    /// them all), or a plain array when the padding would pass the largest array .NET allows.
    /// </summary>
    public static unsafe ArraySegment<T> Allocate<T>(long count)
        where T : unmanaged
    {
        int size = Unsafe.SizeOf<T>(), pad = Alignment / size;
        if (count < 0 || count > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "more elements than one array holds");
        }

        if (count + pad > Array.MaxLength) return new ArraySegment<T>(new T[count]);

        T[] array = GC.AllocateUninitializedArray<T>((int)count + pad, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        int offset = (int)((Alignment - (start % Alignment)) % Alignment) / size;
        return new ArraySegment<T>(array, offset, (int)count);
    }
}
