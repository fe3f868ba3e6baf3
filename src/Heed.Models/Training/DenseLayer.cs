using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Heed.Models.Blocks;

namespace Heed.Models.Training;

/// <summary>
/// A fully connected layer and its backward pass: y = x·Wᵀ + b with W held [out, in] (the layout of every Heed matrix).
/// Generic over the element type so the same code runs in float32 for training and in float64 for gradient checks. Every
/// output element is one fixed-order sum, and work is split by output rows, so results do not depend on the thread count.
/// </summary>
public static class DenseLayer
{
    // Below this many multiply-adds a call stays on one thread: handing work to the pool costs more than it saves.
    private const long ParallelThreshold = 1 << 16;

    /// <summary>
    /// y = x·Wᵀ + b. x [N, in], W [out, in], b [out] (empty = no bias) → y [N, out].
    /// </summary>
    /// <param name="x">x [N, in].</param>
    /// <param name="weight">W [out, in].</param>
    /// <param name="bias">b [out], or null for none.</param>
    /// <param name="y">y [N, out], written (it must not be x).</param>
    /// <param name="rows">N.</param>
    /// <param name="inFeatures">in.</param>
    /// <param name="outFeatures">out.</param>
    /// <param name="threads">The most threads to use.</param>
    public static void Forward<T>(T[] x, T[] weight, T[]? bias, T[] y, int rows, int inFeatures, int outFeatures, int threads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(y);
        Check(x.Length, rows * inFeatures, "x");
        Check(weight.Length, outFeatures * inFeatures, "W");
        Check(y.Length, rows * outFeatures, "y");
        // Wᵀ [in, out]: each output row becomes a sum of contiguous rows scaled by x, vector FMAs with no horizontal sums.
        var wt = new T[inFeatures * outFeatures];
        for (int o = 0; o < outFeatures; o++)
        {
            for (int i = 0; i < inFeatures; i++) wt[(i * outFeatures) + o] = weight[(o * inFeatures) + i];
        }

        if (typeof(T) == typeof(float))
        {
            // float32: the packed, register-blocked product the inference models use (Blocks.Gemm); threads take whole
            // 64-column strips, so every element is still one fixed-order sum.
            Gemm.Multiply(AsFloat(x), new PackedMatrix(AsFloat(wt), inFeatures, outFeatures), bias is null ? default : AsFloat(bias), AsFloat(y), rows, threads: threads);
            return;
        }

        T[] xs = x, bs = bias ?? [], ys = y;
        For(rows, (long)rows * inFeatures * outFeatures, threads, r =>
        {
            // y[r, :] = b + Σ_i x[r, i] · Wᵀ[i, :]
            ReadOnlySpan<T> xr = xs.AsSpan(r * inFeatures, inFeatures);
            Span<T> yr = ys.AsSpan(r * outFeatures, outFeatures);
            if (bs.Length > 0) bs.AsSpan(0, outFeatures).CopyTo(yr);
            else yr.Clear();
            for (int i = 0; i < inFeatures; i++)
            {
                if (xr[i] != T.Zero) Axpy(xr[i], wt.AsSpan(i * outFeatures, outFeatures), yr);
            }
        });
    }

    /// <summary>
    /// The backward pass of <see cref="Forward"/>, accumulating: dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy.
    /// dy [N, out], x [N, in], W [out, in] → dx [N, in], dW [out, in], db [out] (a null dx or db is not computed).
    /// </summary>
    public static void Backward<T>(T[] dy, T[] x, T[] weight, T[]? dx, T[] dWeight, T[]? dBias, int rows, int inFeatures, int outFeatures, int threads = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(dy);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(dWeight);
        Check(dy.Length, rows * outFeatures, "dy");
        Check(x.Length, rows * inFeatures, "x");
        Check(dWeight.Length, outFeatures * inFeatures, "dW");
        long work = (long)rows * inFeatures * outFeatures;

        // dyᵀ [out, N]: each output feature's gradient column becomes a contiguous row.
        var dyT = new T[outFeatures * rows];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < outFeatures; o++) dyT[(o * rows) + r] = dy[(r * outFeatures) + o];
        }

        if (typeof(T) == typeof(float))
        {
            // dW += dyᵀ·x and dx += dy·W on the packed product (see Forward)
            Gemm.Multiply(AsFloat(dyT), new PackedMatrix(AsFloat(x), rows, inFeatures), default, AsFloat(dWeight), outFeatures, DenseOutput.Residual, AsFloat(dWeight), threads);
            if (dx is not null)
            {
                Check(dx.Length, rows * inFeatures, "dx");
                Gemm.Multiply(AsFloat(dy), new PackedMatrix(AsFloat(weight), outFeatures, inFeatures), default, AsFloat(dx), rows, DenseOutput.Residual, AsFloat(dx), threads);
            }

            BiasGradient(dyT, dBias, rows, outFeatures);
            return;
        }

        T[] xs = x, dws = dWeight;
        For(outFeatures, work, threads, o =>
        {
            // dW[o, :] += Σ_r dy[r, o] · x[r, :]
            Span<T> row = dws.AsSpan(o * inFeatures, inFeatures);
            ReadOnlySpan<T> g = dyT.AsSpan(o * rows, rows);
            for (int r = 0; r < rows; r++)
            {
                if (g[r] != T.Zero) Axpy(g[r], xs.AsSpan(r * inFeatures, inFeatures), row);
            }
        });

        BiasGradient(dyT, dBias, rows, outFeatures);

        if (dx is not null)
        {
            Check(dx.Length, rows * inFeatures, "dx");
            T[] dys = dy, ws = weight, dxs = dx;
            For(rows, work, threads, r =>
            {
                // dx[r, :] += Σ_o dy[r, o] · W[o, :]
                Span<T> row = dxs.AsSpan(r * inFeatures, inFeatures);
                ReadOnlySpan<T> g = dys.AsSpan(r * outFeatures, outFeatures);
                for (int o = 0; o < outFeatures; o++)
                {
                    if (g[o] != T.Zero) Axpy(g[o], ws.AsSpan(o * inFeatures, inFeatures), row);
                }
            });
        }
    }

    // db[o] += Σ_r dy[r, o], from dyᵀ [out, N]
    private static void BiasGradient<T>(T[] dyT, T[]? dBias, int rows, int outFeatures)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (dBias is null) return;
        Check(dBias.Length, outFeatures, "db");
        for (int o = 0; o < outFeatures; o++)
        {
            T sum = T.Zero;
            ReadOnlySpan<T> g = dyT.AsSpan(o * rows, rows);
            for (int r = 0; r < rows; r++) sum += g[r];
            dBias[o] += sum;
        }
    }

    private static float[] AsFloat<T>(T[] array) => Unsafe.As<T[], float[]>(ref array);

    /// <summary>Σ a[i]·b[i], vectorised, in a fixed order.</summary>
    public static T Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = a.Length, i = 0;
        T sum = T.Zero;
        if (Vector<T>.IsSupported && n >= Vector<T>.Count)
        {
            ReadOnlySpan<Vector<T>> va = MemoryMarshal.Cast<T, Vector<T>>(a), vb = MemoryMarshal.Cast<T, Vector<T>>(b[..n]);
            Vector<T> acc = Vector<T>.Zero;
            for (int v = 0; v < va.Length; v++) acc += va[v] * vb[v];
            sum = Vector.Sum(acc);
            i = va.Length * Vector<T>.Count;
        }

        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += alpha·x, vectorised.</summary>
    public static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Length, i = 0;
        if (Vector<T>.IsSupported && n >= Vector<T>.Count)
        {
            ReadOnlySpan<Vector<T>> vx = MemoryMarshal.Cast<T, Vector<T>>(x);
            Span<Vector<T>> vy = MemoryMarshal.Cast<T, Vector<T>>(y[..n]);
            var va = new Vector<T>(alpha);
            for (int v = 0; v < vx.Length; v++) vy[v] += va * vx[v];
            i = vx.Length * Vector<T>.Count;
        }

        for (; i < n; i++) y[i] += alpha * x[i];
    }

    /// <summary>Runs body(0..count−1), on several threads when the call has enough work; each index is done by exactly one thread.</summary>
    internal static void For(int count, long work, int threads, Action<int> body)
    {
        int parts = (int)Math.Min(Math.Min(threads, count), Math.Max(1, work / ParallelThreshold));
        if (parts <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }

        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            int start = (int)((long)count * p / parts), end = (int)((long)count * (p + 1) / parts);
            for (int i = start; i < end; i++) body(i);
        });
    }

    private static void Check(int actual, int expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements; expected {expected}");
    }
}
