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
        AdviseHugePages(start, (count + pad) * size);
        return new ArraySegment<T>(array, offset, (int)count);
    }

    private const long HugePage = 2L << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE
    private static bool _noMadvise;

    // Asks Linux to back the whole 2 MiB pages inside [start, start + bytes) with transparent huge pages, before anything is
    // written there. The pages are then faulted in 2 MiB at a time: on the 110M F32 file the first forward pass after loading
    // took 440 ms instead of 800–950 (the first touch of each 4 KiB page is what it paid for), with decode speed unchanged.
    // Only advice: with huge pages off, elsewhere, or without the call, nothing changes. .NET has no API for it.
    private static void AdviseHugePages(nint start, long bytes)
    {
        if (!OperatingSystem.IsLinux() || _noMadvise) return;
        long first = (start + HugePage - 1) & ~(HugePage - 1), end = (start + bytes) & ~(HugePage - 1);
        if (end <= first) return;
        try
        {
            _ = Madvise((nint)first, (nuint)(end - first), MadviseHugePage);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _noMadvise = true;
        }
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint length, int advice);
}
