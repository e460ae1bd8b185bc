"""A picture being coded or decoded: sample planes plus the per-macroblock context arrays that the
syntax (nC, predicted modes, availability) and the deblocking filter need. Shared by both directions."""
import numpy as np

from .macroblock import MB_PCM


class Picture:
    """Planes padded to whole macroblocks and the context arrays of :mod:`minicodec.macroblock`."""

    def __init__(self, mb_width, mb_height, chroma_qp_index_offset=0):
        self.mb_width = mb_width
        self.mb_height = mb_height
        self.chroma_qp_index_offset = chroma_qp_index_offset
        n = mb_width * mb_height
        self.Y = np.zeros((16 * mb_height, 16 * mb_width), np.uint8)
        self.Cb = np.zeros((8 * mb_height, 8 * mb_width), np.uint8)
        self.Cr = np.zeros((8 * mb_height, 8 * mb_width), np.uint8)
        self.mb_slice = np.full(n, -1, np.int32)
        self.mb_kind = np.zeros(n, np.int32)
        self.mb_qp = np.zeros(n, np.int32)
        self.nz_y = np.zeros((4 * mb_height, 4 * mb_width), np.uint8)
        self.nz_c = np.zeros((2, 2 * mb_height, 2 * mb_width), np.uint8)
        self.ipred = np.full((4 * mb_height, 4 * mb_width), 2, np.int8)
        # per-macroblock deblocking parameters, from the slice each macroblock belongs to
        self.mb_filter_idc = np.zeros(n, np.int32)
        self.mb_alpha_offset = np.zeros(n, np.int32)
        self.mb_beta_offset = np.zeros(n, np.int32)
        self.slices = 0

    def set_slice_filter(self, slice_num, idc, alpha_div2, beta_div2):
        m = self.mb_slice == slice_num
        self.mb_filter_idc[m] = idc
        self.mb_alpha_offset[m] = 2 * alpha_div2
        self.mb_beta_offset[m] = 2 * beta_div2

    def deblock(self):
        """Run the loop filter (8.7) over the whole picture, in place."""
        from .deblock import deblock_picture
        if np.all(self.mb_filter_idc == 1):
            return
        qp = np.where(self.mb_kind == MB_PCM, 0, self.mb_qp).astype(np.int32)
        deblock_picture(self.Y, self.Cb, self.Cr, self.mb_width, self.mb_height, qp, self.mb_slice,
                        self.mb_filter_idc, self.mb_alpha_offset, self.mb_beta_offset,
                        self.chroma_qp_index_offset)

    def cropped(self, sps_like):
        """(Y, Cb, Cr) after frame cropping (7.4.2.1.1), as copies."""
        l, r, t, b = sps_like.crop_left, sps_like.crop_right, sps_like.crop_top, sps_like.crop_bottom
        H, W = self.Y.shape
        Y = self.Y[t:H - b, l:W - r].copy()
        Cb = self.Cb[t // 2:(H - b) // 2, l // 2:(W - r) // 2].copy()
        Cr = self.Cr[t // 2:(H - b) // 2, l // 2:(W - r) // 2].copy()
        return Y, Cb, Cr
