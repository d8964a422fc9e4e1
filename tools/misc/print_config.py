"""Print the whole config after inheritance:  python tools/misc/print_config.py CONFIG"""

from mmengine.config import Config

from mmpdepth.utils.cli import (CfgOptionsAction, ToolArgumentParser, merge_cfg_options,
                                run_tool)


def main():
    parser = ToolArgumentParser(description='Print the whole config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override settings of the config, key=value')
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    print(f'Config:\n{cfg.pretty_text}')


if __name__ == '__main__':
    run_tool(main)
