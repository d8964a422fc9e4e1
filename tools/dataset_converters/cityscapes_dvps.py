"""Check a Cityscapes-DVPS tree and write the JSON index its dataset loads fastest from.

    python tools/dataset_converters/cityscapes_dvps.py --root data/cityscapes-dvps --split val \
        [--out data/cityscapes-dvps/val_index.json]

Expected tree (docs/en/dataset_prepare.md): ROOT/video_sequence/{train,val}/. Missing pairs are
reported with the file name; the index is then used as ``ann_file`` in the dataset config.
"""

from mmpdepth.datasets.index_builder import index_cli


def main(argv=None) -> int:
    return index_cli('CityscapesDPSDataset', 'Cityscapes-DVPS', 'data/cityscapes-dvps', argv)


if __name__ == '__main__':
    from mmpdepth.utils.cli import run_tool
    run_tool(main)
