"""Parsing raw email into what kefu needs, repairing what real mail clients get wrong.

Contract (the rest of ``kefu.mail`` relies on it): :func:`parse` never raises on any input;
whatever it could not understand is listed in ``ParsedEmail.defects``.
"""

from __future__ import annotations

import binascii
import codecs
import contextlib
import email.policy
import email.utils
import functools
import math
import mimetypes
import re
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser

from kefu.mail.htmltext import html_to_text


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    content_id: str = ""  # without <>, for inline (cid:) images
    inline: bool = False


@dataclass
class DeliveryStatus:
    """What a bounce (RFC 3464 DSN) says about one of our messages."""

    original_message_id: str  # without <>
    recipient: str
    status: str  # e.g. "5.1.1"
    diagnostic: str


@dataclass
class ParsedEmail:
    message_id: str = ""  # without <>; "" when missing
    in_reply_to: list[str] = field(default_factory=list)  # ids without <>
    references: list[str] = field(default_factory=list)  # ids without <>, oldest first
    subject: str = ""  # decoded, one line, no CR/LF
    from_name: str = ""
    from_address: str = ""  # lower-cased addr-spec, "" when missing or invalid
    reply_to: str = ""  # lower-cased addr-spec or ""
    to: list[tuple[str, str]] = field(default_factory=list)  # (name, address)
    cc: list[tuple[str, str]] = field(default_factory=list)
    date: datetime | None = None  # aware
    text: str = ""  # the best plain text: text/plain, or text derived from the HTML
    html: str = ""  # the HTML part as sent (NOT sanitized; the caller sanitizes)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    oversized: list[tuple[str, int]] = field(default_factory=list)  # (filename, bytes) dropped
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, decoded values
    defects: list[str] = field(default_factory=list)
    delivery_status: DeliveryStatus | None = None  # set when the message is a bounce


# ---------------------------------------------------------------------------------------------
# Charsets: labels as mail clients write them, and decoding bytes whatever the label says.
# ---------------------------------------------------------------------------------------------

_ALIASES: dict[str, str | None] = {
    # Chinese clients label GBK (and GB18030) text GB2312; GB18030 is a superset of all three.
    **dict.fromkeys(
        (
            "gb2312",
            "gbk",
            "x-gbk",
            "cp936",
            "ms936",
            "windows-936",
            "gb_2312-80",
            "gb2312-80",
            "gb_2312",
            "euc-cn",
            "x-euc-cn",
            "euccn",
            "csgb2312",
            "chinese",
            "iso-ir-58",
            "gb18030",
            "gb-18030",
            "936",
        ),
        "gb18030",
    ),
    # Big5 as sent in Hong Kong and Taiwan includes the HKSCS characters.
    **dict.fromkeys(
        (
            "big5",
            "big-5",
            "x-big5",
            "cn-big5",
            "csbig5",
            "big5-hkscs",
            "big5hkscs",
            "cp950",
            "x-x-big5",
        ),
        "big5hkscs",
    ),
    **dict.fromkeys(
        (
            "ks_c_5601-1987",
            "ks_c_5601",
            "ks_c_5601-1989",
            "euc-kr",
            "euckr",
            "korean",
            "csksc56011987",
            "ksc5601",
            "windows-949",
            "cp949",
            "uhc",
        ),
        "cp949",
    ),
    **dict.fromkeys(
        (
            "shift_jis",
            "shift-jis",
            "sjis",
            "x-sjis",
            "ms_kanji",
            "csshiftjis",
            "windows-31j",
            "cp932",
            "x-ms-cp932",
        ),
        "cp932",
    ),
    **dict.fromkeys(("iso-2022-jp", "csiso2022jp", "iso2022-jp", "jis"), "iso2022_jp_ext"),
    # As browsers do (WHATWG): these labels mean windows-1252 in practice.
    **dict.fromkeys(
        (
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "iso-8859-1",
            "iso8859-1",
            "iso_8859-1",
            "latin1",
            "latin-1",
            "l1",
            "cp819",
            "ibm819",
            "iso-ir-100",
            "windows-1252",
            "cp1252",
            "x-cp1252",
            "us",
            "iso_8859-1:1987",
            "csisolatin1",
        ),
        "cp1252",
    ),
    **dict.fromkeys(
        ("utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8", "utf-8-sig"), "utf-8"
    ),
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "tis-620": "cp874",
    "x-unknown": None,
    "unknown-8bit": None,
    "unknown": None,
    "x-user-defined": None,
    "default": None,
    "charset": None,
}
_UNSAFE_CODECS = {
    "idna",
    "punycode",
    "unicode_escape",
    "raw_unicode_escape",
    "undefined",
    "mbcs",
    "oem",
}
_SEVEN_BIT = {
    "iso2022_jp_ext",
    "iso2022_jp",
    "iso2022_jp_1",
    "iso2022_jp_2",
    "iso2022_jp_3",
    "iso2022_jp_2004",
    "iso2022_kr",
    "hz",
    "utf-7",
}
_CJK_CODECS = {"gb18030", "big5hkscs", "cp949", "cp932", "euc_jp", "euc_jis_2004"}
_SINGLE_BYTE_LATIN = {"cp1252", "latin-1", "iso8859-15", "iso8859-2", "cp1250"}
_LABEL_JUNK = re.compile(r"[\s\"';]+")


@functools.lru_cache(maxsize=256)
def normalize_charset(label: str | None) -> str | None:
    """The Python codec to use for a MIME charset label, or None when it is missing/unknown."""
    if not label:
        return None
    key = _LABEL_JUNK.sub("", label.lower()).split("*", 1)[0]
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        info = codecs.lookup(key)
    except (LookupError, ValueError):
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True) or name in _UNSAFE_CODECS:
        return None
    return _ALIASES.get(name, name)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    except Exception:  # some codecs raise other errors on hostile input
        return None


# The most frequent Chinese characters (simplified; traditional forms are added at first use).
# Real Chinese text is made mostly of them; text decoded with the wrong CJK codec is not.
_COMMON_ZH = (
    "的一是不了在人有我他这个们中来上大为和国地到以说时要就出会可也你对生能而子那得于着下自之年过"
    "发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本"
    "前开但因只从想实日军者意无力它与长把机十民第公此已工使情明性知全三又关点正业外将两高间由问很"
    "最重并物手应战向头文体政美相见被利什二等产或新己制身果加西斯月话合回特代内信表化老给世位次度"
    "门任常先海通教儿原东声提立及比员解水名真论处走义各入几口认条平系气题活尔更别打女变四神总何电"
    "数安少报才结反受目太量再感建务做接必场件计管期市直德资命山金指克许统区保至队形社便空决治展马"
    "科司五基眼书非则听白却界达光放强即像难且权思王象完设式色路记南品住告类求据程北边死张该交规万"
    "取拉格望觉术领共确传师观清今切院让识候带导争运笑飞风步改收根干造言联持组每济车亲极林服快办议"
    "往元英士证近失转夫令准布始怎呢存未远叫台单影具罗字爱击流备兵连调深商算质团集百需价花党华城石"
    "级整府离况亚请技际约示复病息究线似官火断精满支视消越器容照须九增研写称企八功吗包片史委乎查轻"
    "易早曾除农找装广显吧阿李标谈吃图念六引历首医局突专费号尽另周较注语仅考落青随选列武红响虽推势"
    "参希古众构房半节土投某案黑维革划敌致陈律足态护七兴派孩验责营星够章音跟志底站严巴例防族供效续"
    "施留讲型料终答紧黄绝奇察母京段依批群项故按河米围江织害斗双境客纪采举杀攻父苏密低朝友诉止细愿"
    "千值仍男钱破网热助倒育属坐帝限船脸职速刻乐否刚威毛状率甚独球般普怕弹校苦创假久错承印晚兰试股"
    "拿脑预谁益阳若哪微尼继送急血惊伤素药适波夜省初喜卫源食险待述陆习置居劳财环排福纳欢雷警获模充"
    "负云停木游龙树疑层冷洲冲射略范竟句室异激汉村哈策演简卡罪判担州静退既衣您宗积余痛检差富灵协角"
    "占配征修皮挥胜降阶审沉坚善妈刘读啊超免压银买皇养伊怀执副乱抗犯追帮宣佛岁航优怪香著田铁控税左"
    "右份穿艺背阵草脚概恶块顿敢守酒岛托央户烈洋哥索胡款靠评版宝座释景顾弟登货互付伯慢欧换闻危忙核"
    "暗姐介坏讨丽良序升监临亮露永呼味野架域沙掉括舰鱼杂误湾吉减编楚肯测败屋跑梦散温困剑渐封救贵枪"
    "缺楼县尚毫移娘朋画班智亦耳恩短掌恐遗固席松秘谢鲁遇康虑幸均销钟诗藏赶剧票损忽巨炮旧端探湖录叶"
    "春乡附吸予礼港雨呀板庭妇归睛饭额含顺输摇招婚脱补谓督毒油疗旅泽材灭逐莫笔亡鲜词圣择寻厂睡博勒"
    "烟授诺伦岸奥唐卖俄炸载洛健堂旁宫喝借君禁阴园谋宋避抓荣姑孙逃牙束跳顶玉镇雪午练迫爷篇肉嘴馆遍"
    "凡础洞卷坦牛宁纸诸训私庄祖丝翻暴森塔默握戏隐熟骨访弱蒙歌店鬼软典欲萨伙遭盘爸扩盖弄雄稳忘亿刺"
    "拥徒姆杨齐赛趣曲刀床迎冰虚玩析窗醒妻透购替塞努休虎扬途侵刑绿兄迅套贸毕唯谷轮库迹尤竞街促延震"
    "弃甲伟麻川申缓潜闪售灯针哲络抵朱埃抱鼓植纯夏忍页杰筑折郑贝尊吴秀混臣雅振染盛怒舞圆搞狂措姓残"
    "秋培迷诚宽宇猛摆梅毁伸摩盟末乃悲拍丁赵硬麦蒋操耶阻订彩抽赞魔纷沿喊违妹浪汇币丰蓝殊献桌啦瓦莱"
    "援译夺汽烧距裁偏符勇触课敬哭懂墙袭召罚侠厅拜巧侧韩冒债曼融惯享戴童犹乘挂奖绍厚纵障讯涉彻刊丈"
    "爆乌役描洗玛患妙镜唱烦签仙彼弗症仿倾牌陷鸟轰咱菜闭奋庆撤泪茶疾缘播朗杜奶季丹狗尾仪偷奔珠虫驻"
    "孔宜艾桥淡翼恨繁寒伴叹旦愈潮粮缩罢聚径恰挑袋灰捕徐珍幕映裂泰隔启尖忠累炎暂估泛荒偿横拒瑞忆孤"
    "鼻闹羊呆厉衡胞零穷舍码赫婆魂灾洪腿胆津俗辩胸晓劲贫仁偶辑邦恢赖圈摸仰润堆碰艇稍迟辆废净凶署壁"
    "御奉旋冬矿抬蛋晨伏吹鸡倍糊秦盾杯租骑乏隆诊奴摄丧污渡旗甘耐凭扎抢绪粗肩梁幻菲皆碎宙叔岩荡综爬"
    "荷悉蒂返井壮薄悄扫敏碍殖详迪矛霍允幅撒剩凯颗骂赏液番箱贴漫酸郎腰舒眉忧浮辛恋餐吓挺励辞艘键伍"
    "峰尺昨黎辈贯侦滑券崇扰宪绕趋慈乔阅汗枝拖墨胁插箭腊粉泥氏彭拔骗凤慧媒佩愤扑龄驱惜豪掩兼跃尸肃"
    "帕驶堡届欣惠册储飘桑闲惨洁踪勃宾频仇磨递邪撞拟滚奏巡颜剂绩贡疯坡瞧截燃焦殿伪柳锁逼颇昏劝呈搜"
    "勤戒驾漂饮曹朵仔柔俩孟腐幼践籍牧凉牲佳娜浓芳稿竹腹跌逻垂遵脉貌柏狱猜怜惑陶兽帐饰贷昌叙躺钢沟"
    "寄扶铺邓寿惧询汤盗肥尝匆辉奈扣廷澳嘛董迁凝慰厌脏腾幽怨鞋丢埋泉涌辖躲晋紫艰魏吾慌祝邮吐狠鉴曰"
    "械咬邻赤挤弯椅陪割揭韦悟聪雾锋梯猫祥阔誉筹丛牵鸣沈阁穆屈旨袖猎臂蛇贺柱抛鼠瑟戈牢逊迈欺吨琴衰"
    "瓶恼燕仲诱狼池疼卢仗冠粒遥吕玄尘冯抚浅敦纠钻晶岂峡苍喷耗凌敲菌赔涂粹扁亏寂煤熊恭湿循暖糖赋抑"
    "秩帽哀宿踏烂袁侯抖夹昆肝擦猪炼恒慎搬纽纹玻渔磁铜齿跨押怖漠疲叛遣兹祭醉拳弥斜档稀捷肤疫肿豆削"
    "岗晃吞宏癌肚隶履涨耀扭坛拨沃绘伐堪仆郭牺歼墓雇廉契拼惩捉覆刷劫嫌瓜歇雕闷乳串娃缴唤赢莲霸桃妥"
    "瘦搭赴岳嘉舱俊址庞耕锐缝悔邀玲惟斥宅添挖呵讼氧浩羽斤酷掠妖祸侍乙妨贪挣汪尿莉悬唇翰仓轨枚盐览"
    "傅帅庙芬屏寺胖璃愚滴疏萧姿颤丑劣柯寸扔盯辱匹俱辨饿蜂哦腔郁溃谨糟葛苗肠忌溜鸿爵鹏鹰笼丘桂滋聊"
    "挡纲肌茨壳痕碗穴膀卓贤卧膜毅锦欠哩函茫昂薛皱夸豫胃舌剥傲拾窝睁携陵哼棉晴铃填饲渴吻扮逆脆喘罩"
    "卜炉柴愉绳胎蓄眠竭喂傻慕浑奸扇柜悦拦诞饱乾泡贼亭夕爹酬儒姻卵氛泄杆挨僧蜜吟猩遂狭肖甜霞驳裕顽"
    "於摘矮秒卿畜咽披辅勾盆疆赌塑畏吵囊嗯泊肺骤缠冈羞瞪吊贾漏斑涛悠鹿俘锡卑葬铭滩嫁催璇翅盒蛮矣潘"
    "歧赐鲍锅廊拆灌勉盲宰佐啥胀扯禧辽抹筒棋裤唉朴咐孕誓喉妄拘链驰栏逝窃艳臭纤玑棵趁匠盈翁愁瞬婴孝"
    "颈倘浙谅蔽畅赠妮莎尉冻跪闯葡后厨鸭颠遮谊圳吁仑辟瘤嫂陀框谭亨钦庸歉芝吼甫衫摊宴嘱衷娇陕矩浦讶"
    "耸裸碧摧薪淋耻胶屠鹅饥盼脖虹翠崩账萍逢赚撑翔倡绵猴枯巫昭怔渊凑溪蠢禅阐旺寓藤匪伞碑挪琼脂谎慨"
    "菩萄狮掘抄岭晕逮砍掏狄晰罕挽脾舟痴蔡剪脊弓懒叉拐喃僚捐姊骚拓歪粘柄坑陌窄湘兆崖骄刹鞭芒筋聘钩"
    "棍嚷腺弦焰耍俯厘愣厦恳饶钉寡憾摔叠惹喻谱愧煌徽溶坠煞巾滥洒堵瓷咒姨棒郡浴媚稣淮哎屁漆淫巢吩撰"
    "啸滞玫硕钓蝶膝姚茂躯吏猿寨恕渠戚辰舶颁惶狐讽笨袍嘲啡泼衔倦涵雀旬僵撕肢垄夷逸茅侨舆窑涅蒲谦杭"
    "噢弊勋刮郊凄捧浸砖鼎篮蒸饼亩肾陡爪兔殷贞荐哑炭坟眨搏咳拢舅昧擅爽咖搁禄雌哨巩绢螺裹昔轩谬谍龟"
    "媳姜瞎冤鸦蓬巷琳栽沾诈斋瞒彪厄咨纺罐桶壤糕颂膨谐垒咕隙辣绑宠嘿兑霉挫稽辐乞纱裙嘻哇绣杖塘衍轴"
    "攀膊譬斌祈踢肆坎轿棚泣屡躁邱凰溢椎砸趟帘帆栖窜丸斩堤塌贩厢掀喀乖谜捏阎滨虏匙芦苹卸沼钥株祷剖"
    "熙哗劈怯棠胳桩瑰娱娶沫嗓蹲焚淘嫩韵衬匈钧竖峻豹捞菊鄙魄兜哄颖镑屑蚁壶怡渗秃迦旱哟咸焉谴宛稻铸"
    "锻伽詹毙恍贬烛骇芯汁桓坊驴朽靖佣汝碌迄冀荆崔雁绅珊榜诵傍彦醇笛禽勿娟瞄幢寇睹贿踩霆呜拱妃蔑谕"
    "缚诡篷淹腕煮倩卒勘馨逗甸贱炒灿敞蜡囚栗辜垫妒魁谣寞蜀甩涯枕丐泳奎泌逾叮黛燥掷藉枢憎鲸弘倚侮藩"
    "拂鹤蚀浆芙垃烤晒霜剿蕴圾绸屿氢驼妆捆铅逛淑榴丙痒钞蹄犬躬昼藻蛛褐颊奠募耽蹈陋侣魅岚侄虐堕陛莹"
    "荫狡阀绞膏垮茎缅喇绒搅凳梭丫姬诏钮棺耿缔懈嫉灶匀嗣鸽澡凿纬沸畴刃遏烁嗅叭熬瞥骸奢拙栋毯桐砂莽"
    "泻坪梳杉晤稚蔬蝇捣顷麽尴镖诧尬硫嚼羡沦沪旷彬芽狸冥碳咧惕暑咯萝汹腥窥俺潭崎麟捡拯厥澄萎哉涡滔"
    "暇溯鳞酿茵愕瞅暮衙诫斧兮焕棕佑嘶妓喧蓉删樱伺嗡娥梢坝蚕敷澜杏绥冶庇挠搂倏聋琐擎炳癫蜘庐帜骏腻"
    "熄洽邑倪窍询咨您谢订单货退换修购买价款客服务维保滤芯登记发票物流快递包裹寄件收到查询账户密码"
    "登录注册手机号码邮箱地址支付宝微信退款赔偿投诉建议问题麻烦帮忙尽快处理回复答复感谢辛苦工作日"
)


@functools.lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    chars = set(_COMMON_ZH)
    with contextlib.suppress(Exception):  # without opencc: simplified forms only
        from opencc import OpenCC

        chars.update(OpenCC("s2t").convert(_COMMON_ZH))
    return frozenset(chars)


# windows-1252 characters outside Latin-1, and the usual typographic symbols that are fine.
_CP1252_EXTRA = frozenset("€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ")
_FINE_SYMBOLS = frozenset("\u00a0©®°«»¿¡€–—‘’“”•…£§·™×")
_MOJIBAKE_UTF8 = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u2018-\u203a\u20ac\u0152-\u0178\u02c6\u02dc\u0192\u2122]"
)


def _is_cjk(o: int) -> bool:
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


def _score(text: str, limit: int = 20000) -> float:
    """How implausible ``text`` is as human writing (lower is better; common Chinese scores
    below zero). Used only to choose between decodings of the same bytes."""
    if len(text) > limit:
        text = text[:limit]
    common = _common_chars()
    bad = 0.0
    run = 0
    n = len(text)
    for i, ch in enumerate(text):
        o = ord(ch)
        if o < 0x80:
            if run >= 3:
                bad += run
            run = 0
            continue
        if ch == "\ufffd":
            bad += 30
        elif o < 0xA0:
            bad += 20  # C1 control: the bytes were not meant as Latin-1
        elif o < 0x250 or ch in _CP1252_EXTRA:
            run += 1
            if not ch.isalpha() and ch not in _FINE_SYMBOLS:
                bad += 2
            continue
        elif _is_cjk(o) or 0x3040 <= o <= 0x30FF or 0xAC00 <= o <= 0xD7A3:
            if ch in common:
                bad -= 0.5
            elif _is_cjk(o):
                bad += 1
            before = text[i - 1] if i else " "
            after = text[i + 1] if i + 1 < n else " "
            if before.isascii() and before.isalpha() and after.isascii() and after.isalpha():
                bad += 4  # one ideograph inside a Latin word: single-byte text read as CJK
        else:
            cat = unicodedata.category(ch)
            if cat in ("Co", "Cn", "Cs", "Cc"):
                bad += 20
        if run >= 3:
            bad += run
        run = 0
    if run >= 3:
        bad += run
    if _MOJIBAKE_UTF8.search(text):
        fixed = _undo_latin1(text)
        if fixed is not None:
            utf8 = _strict(fixed, "utf-8")
            if utf8 is not None and utf8 != text:
                bad += 10 * sum(1 for ch in utf8 if ord(ch) >= 0x80)
    return bad


def _undo_latin1(text: str) -> bytes | None:
    """The bytes that ``text`` came from if it was decoded as Latin-1 or windows-1252."""
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec)
        except UnicodeEncodeError:
            continue
    try:  # a mixture (windows-1252 punctuation among C1 controls)
        return bytes(ord(ch) if ord(ch) < 256 else ch.encode("cp1252")[0] for ch in text)
    except (UnicodeEncodeError, IndexError):
        return None


def _best(candidates: list[tuple[str, str]]) -> str:
    """The most plausible of several decodings (ties go to the earlier candidate)."""
    best_text, best = candidates[0][1], math.inf
    for rank, (_codec, text) in enumerate(candidates):
        value = _score(text) + rank * 0.1
        if value < best:
            best_text, best = text, value
    return best_text


def _guess_chain(hints: Iterable[str | None]) -> list[str]:
    chain = ["utf-8"]
    for hint in hints:
        codec = normalize_charset(hint)
        if codec and codec not in chain and codec not in _SEVEN_BIT:
            chain.append(codec)
    for codec in ("gb18030", "big5hkscs", "cp1252"):
        if codec not in chain:
            chain.append(codec)
    return chain


def decode_bytes(data: bytes, label: str | None = None, hints: Iterable[str | None] = ()) -> str:
    """Decode text bytes whatever their label says, repairing what real mail gets wrong:
    GB2312/GBK read as GB18030, Big5 as Big5-HKSCS, UTF-8 under another label as UTF-8, a
    missing or unknown charset guessed (UTF-8, the hints, GB18030, Big5-HKSCS, windows-1252,
    Latin-1) by how plausible the result is, and CJK text that was once read as Latin-1 and
    re-encoded (double encoding) restored."""
    if not data:
        return ""
    hints = tuple(hints)
    codec = normalize_charset(label)
    if codec in _SEVEN_BIT:
        text = _strict(data, codec)
        if text is not None:
            return text
        codec = None
    if data.isascii():
        return data.decode("ascii")
    utf8 = _strict(data, "utf-8")
    if utf8 is not None:
        utf8 = utf8.lstrip("\ufeff")
        if codec not in (None, "utf-8") and _nonascii(data) <= 16:
            declared = _strict(data, codec)
            if declared is not None:  # a short string may be valid in both: compare
                return _repair_double(_best([(codec, declared), ("utf-8", utf8)]), codec, hints)
        return _repair_double(utf8, codec, hints)
    if codec is not None and codec != "utf-8":
        declared = _strict(data, codec)
        if declared is not None:
            if codec in _SINGLE_BYTE_LATIN and _nonascii(data) >= 4:
                return _second_opinion(data, declared, codec, hints)
            return _repair_double(declared, codec, hints)
    candidates: list[tuple[str, str]] = []
    for name in _guess_chain((label, *hints)):
        text = _strict(data, name)
        if text is not None:
            candidates.append((name, text))
    if codec is not None:
        with contextlib.suppress(Exception):
            candidates.append((codec, data.decode(codec, "replace")))
    candidates.append(("latin-1", data.decode("latin-1")))
    return _best(candidates)


def _nonascii(data: bytes) -> int:
    return len(data) - len(data.translate(None, bytes(range(128))))


def _second_opinion(data: bytes, declared: str, codec: str, hints: tuple[str | None, ...]) -> str:
    """Text labelled as a Latin charset that may really be Chinese (a common mislabel)."""
    sample = data[:8192]
    labelled = declared[: len(sample)] if len(declared) >= len(sample) else declared
    options: list[tuple[str, str]] = [(codec, labelled)]
    for name in _guess_chain(hints):
        if name in ("utf-8", "cp1252", codec):
            continue
        text = _strict(sample, name)
        if text is None and len(data) > len(sample):
            text = _strict(sample[:-1], name)  # the sample may cut a character in two
        if text is not None:
            options.append((name, text))
    if len(options) == 1:
        return declared
    winner = _best(options)
    if winner is labelled:
        return declared
    chosen = next(name for name, text in options if text is winner)
    if _score(labelled) - _score(winner) < 5:
        return declared
    return _strict(data, chosen) or declared


def _repair_double(text: str, codec: str | None, hints: tuple[str | None, ...]) -> str:
    """Undo double encoding: text whose characters are the bytes of CJK (or UTF-8) text read
    as Latin-1/windows-1252. Only tried when the text is all Latin-1-range characters."""
    if len(text) < 2 or _HIGH_BEYOND_CP1252.search(text):
        return text
    high = sum(1 for ch in text if ord(ch) >= 0x80)
    if high < 2:
        return text
    cjk_hint = codec in _CJK_CODECS or any(normalize_charset(h) in _CJK_CODECS for h in hints)
    if not cjk_hint and not _MOJIBAKE_UTF8.search(text):
        return text
    raw = _undo_latin1(text)
    if raw is None:
        return text
    options: list[tuple[str, str]] = []
    for name in _guess_chain((codec, *hints)):
        if name == "cp1252":
            continue
        decoded = _strict(raw, name)
        if decoded is not None:
            options.append((name, decoded))
    if not options:
        return text
    repaired = _best(options)
    if _score(text) - _score(repaired) >= 5:
        return repaired
    return text


_HIGH_BEYOND_CP1252 = re.compile(
    "[^\u0000-\u00ff\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152"
    "\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178]"
)


# ---------------------------------------------------------------------------------------------
# Headers: RFC 2047 encoded-words, raw 8-bit values, RFC 2231 parameters.
# ---------------------------------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?(.*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_NEWLINES = re.compile(r"[\r\n]+")
_B64_CHUNK = re.compile(rb"[A-Za-z0-9+/]+=*")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/=]")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_ONE_LINE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_WHITESPACE_RUN = re.compile(r"\s+")


def _b64decode(data: bytes) -> bytes:
    """Base64 as mailers write it: junk characters, missing padding, several padded chunks,
    a stray MIME boundary line at the end."""
    if b"\n--" in data or data.startswith(b"--"):
        data = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"--"))
    out = bytearray()
    for chunk in _B64_CHUNK.findall(_B64_JUNK.sub(b"", data)):
        body = chunk.rstrip(b"=")
        if len(body) % 4 == 1:
            body = body[:-1]
        body += b"=" * (-len(body) % 4)
        with contextlib.suppress(binascii.Error, ValueError):
            out += binascii.a2b_base64(body)
    return bytes(out)


def _to_bytes(value: str) -> bytes:
    """A header or payload string from BytesParser back to its bytes (8-bit bytes are kept as
    surrogate escapes)."""
    try:
        return value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")


def _unfold(value: str) -> str:
    return _NEWLINES.sub(" ", _FOLD.sub("", value))


def decode_header_text(value: str, hints: Iterable[str | None] = ()) -> str:
    """Decode a raw header value: raw 8-bit bytes and RFC 2047 encoded-words (adjacent words
    in the same charset are joined before decoding, since clients split characters across
    them), each with the charset repair of :func:`decode_bytes`."""
    hints = tuple(hints)
    value = _unfold(value)
    if not value.isascii():
        value = decode_bytes(_to_bytes(value), None, hints)
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: bytearray | None = None
    pending_charset = ""
    position = 0

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            out.append(decode_bytes(bytes(pending), pending_charset or None, hints))
            pending = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        if between.strip() or pending is None:
            flush()
            out.append(between)
        charset = match.group(1).split("*", 1)[0].lower()
        encoding = match.group(2).lower()
        payload = match.group(3)
        if encoding == "b":
            raw = _b64decode(payload.encode("ascii", "ignore"))
        else:
            raw = _QP_ESCAPE.sub(
                lambda m: bytes([int(m.group(1), 16)]),
                payload.replace("_", " ").encode("utf-8", "ignore"),
            )
        if pending is not None and charset != pending_charset:
            flush()
        if pending is None:
            pending = bytearray()
            pending_charset = charset
        pending += raw
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def one_line(text: str, limit: int = 0) -> str:
    """A header value safe to put back into a header: no CR, LF or other controls."""
    text = _WHITESPACE_RUN.sub(" ", _ONE_LINE.sub(" ", text)).strip()
    return text[:limit] if limit else text


def _split_params(value: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escape = False
    for ch in value:
        if escape:
            current.append(ch)
            escape = False
        elif ch == "\\" and quoted:
            current.append(ch)
            escape = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value.strip('"')


def header_params(value: str, hints: Iterable[str | None] = ()) -> tuple[str, dict[str, str]]:
    """The main value (lower-cased) and the decoded parameters of a Content-Type or
    Content-Disposition value: RFC 2231 (charset, continuations, percent-escapes), RFC 2047
    words inside quotes, and raw 8-bit values."""
    hints = tuple(hints)
    pieces = _split_params(_unfold(value))
    main = pieces[0].strip().lower() if pieces else ""
    simple: dict[str, str] = {}
    extended: dict[str, dict[int, tuple[bool, str]]] = {}
    for piece in pieces[1:]:
        if "=" not in piece:
            continue
        name, _, raw = piece.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        match = re.fullmatch(r"([^*]+)\*(\d+)?(\*)?", name)
        if match:
            base, index, star = match.group(1), match.group(2), match.group(3)
            if index is None:  # name*=charset'lang'value
                extended.setdefault(base, {})[0] = (True, raw.strip())
            else:
                extended.setdefault(base, {})[int(index)] = (bool(star), _unquote(raw))
        elif name not in simple:
            simple[name] = _unquote(raw)
    params: dict[str, str] = {}
    for name, raw_value in simple.items():
        params[name] = one_line(decode_header_text(raw_value, hints))
    for name, sections in extended.items():
        charset = ""
        data = bytearray()
        for index in sorted(sections):
            encoded, text = sections[index]
            if encoded:
                if index == sorted(sections)[0] and text.count("'") >= 2:
                    charset, _lang, text = text.split("'", 2)
                data += urllib.parse.unquote_to_bytes(_unquote(text))
            else:
                data += _to_bytes(text)
        decoded = decode_bytes(bytes(data), charset or None, hints)
        if "=?" in decoded:
            decoded = decode_header_text(decoded, hints)
        params[name] = one_line(decoded)
    return main, params


# ---------------------------------------------------------------------------------------------
# Addresses, ids, dates
# ---------------------------------------------------------------------------------------------

_ADDRESS_FORBIDDEN = re.compile(r"[\s<>()\[\],;:\"\\\x00-\x1f\x7f]")
_ADDRESS_IN_TEXT = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")
_MSGID = re.compile(r"<([^<>]*)>")


def clean_address(address: str) -> str:
    """A lower-cased addr-spec, or "" when ``address`` is not one (loosely: one @, no spaces)."""
    address = address.strip().strip("<>").strip().lower()
    if address.count("@") != 1 or len(address) > 254 or _ADDRESS_FORBIDDEN.search(address):
        return ""
    local, _, domain = address.partition("@")
    if not local or not domain or domain.startswith(".") or domain.endswith("."):
        return ""
    return address


def _split_top_level(text: str) -> list[tuple[str, str, str]]:
    """Split an address list at top-level commas and semicolons. Each item is returned as
    (display part, angle-bracket part, comments)."""
    items: list[tuple[str, str, str]] = []
    display: list[str] = []
    angle: list[str] = []
    comment: list[str] = []
    quoted = False
    depth = 0
    in_angle = False
    escape = False

    def close() -> None:
        items.append(("".join(display), "".join(angle), " ".join("".join(comment).split())))
        display.clear()
        angle.clear()
        comment.clear()

    for ch in text:
        target = angle if in_angle else comment if depth else display
        if escape:
            target.append(ch)
            escape = False
        elif ch == "\\" and (quoted or depth):
            escape = True
        elif quoted:
            if ch == '"':
                quoted = False
            display.append(ch)
        elif depth:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    comment.append(" ")
                    continue
            comment.append(ch)
        elif ch == '"' and not in_angle:
            quoted = True
            display.append(ch)
        elif ch == "(":
            depth = 1
        elif ch == "<" and not in_angle:
            in_angle = True
            angle.clear()
        elif ch == ">" and in_angle:
            in_angle = False
        elif ch in ",;" and not in_angle:
            close()
        else:
            target.append(ch)
    close()
    return items


def _display_name(text: str, hints: tuple[str | None, ...]) -> str:
    text = text.strip()
    if ":" in text and '"' not in text.split(":", 1)[0]:  # "group: name"
        text = text.split(":", 1)[1].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return one_line(decode_header_text(text, hints), 255).strip("'\" ")


def _addresses(values: list[str], hints: tuple[str | None, ...]) -> list[tuple[str, str]]:
    """(name, address) pairs of address headers, parsed leniently: what real mail puts in
    them (junk inside the angle brackets, addresses as display names, unquoted commas in
    encoded names) yields the addresses a person would read."""
    result: list[tuple[str, str]] = []
    for value in values:
        text = _unfold(value)
        if not text.isascii():
            text = decode_bytes(_to_bytes(text), None, hints)
        for display, angle, comment in _split_top_level(text):
            if angle.strip():
                candidate, name = angle, display or comment
            else:
                candidate, name = display, comment
                if ":" in candidate:  # group syntax "team: a@b"
                    candidate = candidate.rsplit(":", 1)[1]
            candidate = re.sub(r"(?i)^\s*mailto:", "", candidate.strip())
            address = clean_address(candidate)
            if not address:
                found = _ADDRESS_IN_TEXT.findall(candidate)
                address = next((a for a in map(clean_address, found) if a), "")
            if address:
                result.append((_display_name(name, hints), address))
    return result


def _ids(value: str) -> list[str]:
    text = _unfold(value)
    found = [re.sub(r"\s+", "", m) for m in _MSGID.findall(text)]
    ids = [i for i in found if i]
    if not ids and "<" not in text:
        ids = [t.strip("<>") for t in re.split(r"[\s,]+", text) if "@" in t or len(t) > 8]
    return [i[:998] for i in ids if i]


def _date(value: str) -> datetime | None:
    text = one_line(_unfold(value))
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# ---------------------------------------------------------------------------------------------
# MIME parts
# ---------------------------------------------------------------------------------------------

_REPORT_PARTS = {
    "message/delivery-status",
    "message/global-delivery-status",
    "message/disposition-notification",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
}
_MESSAGE_PARTS = {"message/rfc822", "message/global", "message/news"}
_UUENCODE = {"x-uuencode", "uuencode", "uue", "x-uue"}
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,200}?)[ \t]*\r?$", re.M)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def _raw_header(part: Message, name: str) -> str | None:
    for key, value in part.raw_items():
        if key.lower() == name:
            return str(value)
    return None


def _raw_headers(part: Message, name: str) -> list[str]:
    return [str(value) for key, value in part.raw_items() if key.lower() == name]


def _content_type(part: Message, hints: tuple[str | None, ...]) -> tuple[str, dict[str, str]]:
    raw = _raw_header(part, "content-type")
    if raw is None:
        return part.get_default_type(), {}
    main, params = header_params(raw, hints)
    main = re.sub(r"\s+", "", main)
    if main.count("/") != 1 or not all(main.split("/")):
        return "text/plain", params
    return main, params


def _transfer_encoding(part: Message) -> str:
    raw = (_raw_header(part, "content-transfer-encoding") or "").lower()
    if "base64" in raw:
        return "base64"
    if "quoted" in raw:
        return "quoted-printable"
    token = re.sub(r"[^a-z0-9-]", "", raw.split(";", 1)[0])
    return token


def _raw_payload(part: Message) -> bytes:
    """The body of a part exactly as it was in the message (``get_payload()`` would already
    decode 8-bit bytes with the declared charset, replacing what does not fit)."""
    payload = getattr(part, "_payload", None)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return _to_bytes(payload)
    return b""


def _uudecode(data: bytes) -> bytes:
    out = bytearray()
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`"):
            if line.strip() == b"end":
                break
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            with contextlib.suppress(binascii.Error, IndexError):
                size = (((line[0] - 32) & 63) * 4 + 5) // 3  # as the standard library does
                out += binascii.a2b_uu(line[:size])
    return bytes(out)


def _payload_bytes(part: Message) -> bytes:
    data = _raw_payload(part)
    cte = _transfer_encoding(part)
    if cte == "base64":
        return _b64decode(data)
    if cte == "quoted-printable":
        return binascii.a2b_qp(data)
    if cte in _UUENCODE:
        return _uudecode(data)
    return data


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message (message/rfc822)."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        for policy in (email.policy.compat32, email.policy.default):
            with contextlib.suppress(Exception):
                return inner.as_bytes(policy=policy)
    if isinstance(payload, str):
        return _payload_bytes(part)
    return b""


def _safe_filename(name: str) -> str:
    name = one_line(name)
    name = _UNSAFE_FILENAME.sub("/", name).rsplit("/", 1)[-1].strip().lstrip(".")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 250 - len(ext)] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _recover_multipart(part: Message, ctype: str) -> Message | None:
    """A multipart whose boundary is missing or wrong: find the boundary the body really uses
    and parse it again."""
    body = _raw_payload(part)
    if not body.strip():
        return None
    counts: dict[bytes, int] = {}
    for match in _BOUNDARY_LINE.finditer(body):
        token = match.group(1)
        if token.endswith(b"--"):
            token = token[:-2]
        if token.strip():
            counts[token] = counts.get(token, 0) + 1
    if not counts:
        return None
    boundary = max(counts, key=lambda b: (counts[b], -body.find(b"--" + b)))
    boundary_text = boundary.decode("ascii", "replace").replace('"', "")
    head = f'Content-Type: {ctype}; boundary="{boundary_text}"\r\n\r\n'.encode()
    try:
        recovered = BytesParser(policy=email.policy.default).parsebytes(head + body)
    except Exception:
        return None
    if isinstance(recovered.get_payload(), list) and recovered.get_payload():
        return recovered
    return None


@dataclass
class _Walk:
    hints: tuple[str | None, ...]
    max_parts: int
    max_attachment_bytes: int
    count: int = 0
    text_part: Message | None = None
    html_part: Message | None = None
    attachments: list[ParsedAttachment] = field(default_factory=list)
    oversized: list[tuple[str, int]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    reports: list[tuple[str, Message, str]] = field(default_factory=list)
    forwarded: list[tuple[Message, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)


def _walk(root: Message, walk: _Walk) -> None:
    stack: list[tuple[Message, str]] = [(root, "")]
    while stack:
        part, parent = stack.pop()
        walk.count += 1
        if walk.count > walk.max_parts:
            walk.defects.append(f"too many MIME parts; stopped after {walk.max_parts}")
            return
        try:
            ctype, params = _content_type(part, walk.hints)
            if ctype.startswith("multipart/"):
                children = part.get_payload()
                if not isinstance(children, list):
                    recovered = _recover_multipart(part, ctype)
                    if recovered is not None:
                        children = recovered.get_payload()
                if isinstance(children, list):
                    stack.extend(
                        (child, ctype) for child in reversed(children) if isinstance(child, Message)
                    )
                    continue
                # the structure is lost: read the body as plain text
                if isinstance(children, str) and children.strip():
                    walk.defects.append("the MIME structure is broken; the body is shown as sent")
                    if walk.text_part is None:
                        walk.text_part = part
                continue
            _leaf(part, ctype, params, parent, walk)
        except Exception as exc:  # one bad part never loses the others
            walk.defects.append(f"MIME part {walk.count} could not be read ({type(exc).__name__})")


def _leaf(part: Message, ctype: str, params: dict[str, str], parent: str, walk: _Walk) -> None:
    disposition_raw = _raw_header(part, "content-disposition")
    disposition, dparams = (
        header_params(disposition_raw, walk.hints) if disposition_raw else ("", {})
    )
    disposition = disposition.split()[0] if disposition.split() else ""
    filename = dparams.get("filename") or params.get("name") or ""
    cid_raw = _raw_header(part, "content-id")
    content_id = re.sub(r"[\s<>]", "", _unfold(cid_raw)) if cid_raw else ""
    maintype = ctype.split("/", 1)[0]
    if ctype in _REPORT_PARTS:
        walk.reports.append((ctype, part, parent))
        return
    if ctype in _MESSAGE_PARTS:
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            walk.forwarded.append((inner[0], parent))
        content = _message_bytes(part)
        name = _safe_filename(filename)
        if not name.lower().endswith(".eml"):
            name = "forwarded.eml"
        _attach(walk, name, "message/rfc822", content, content_id, inline=False)
        return
    is_attachment = disposition == "attachment" or bool(filename) or maintype != "text"
    if not is_attachment:
        if ctype == "text/plain" and walk.text_part is None:
            walk.text_part = part
        elif ctype == "text/html" and walk.html_part is None:
            walk.html_part = part
        return
    content = _payload_bytes(part)
    name = _safe_filename(filename)
    if not name:
        location = _raw_header(part, "content-location")
        if location:
            name = _safe_filename(urllib.parse.unquote(one_line(location)).split("?", 1)[0])
    if not name:
        extension = mimetypes.guess_extension(ctype) or ".bin"
        stem = "image" if maintype == "image" else "attachment"
        name = f"{stem}-{len(walk.attachments) + len(walk.oversized) + 1}{extension}"
    inline = disposition == "inline" or (disposition != "attachment" and bool(content_id))
    _attach(walk, name, ctype, content, content_id, inline=inline)


def _attach(
    walk: _Walk, name: str, ctype: str, content: bytes, content_id: str, *, inline: bool
) -> None:
    if name in walk.names and name.startswith("forwarded") and name.endswith(".eml"):
        name = f"forwarded-{sum(1 for n in walk.names if n.startswith('forwarded')) + 1}.eml"
    walk.names.add(name)
    if len(content) > walk.max_attachment_bytes:
        walk.oversized.append((name, len(content)))
        return
    walk.attachments.append(
        ParsedAttachment(
            filename=name,
            content_type=ctype,
            content=content,
            content_id=content_id[:250],
            inline=inline,
        )
    )


def _part_text(part: Message, hints: tuple[str | None, ...], *, html: bool = False) -> str:
    _ctype, params = _content_type(part, hints)
    data = _payload_bytes(part)
    label = params.get("charset")
    if html and not label:
        meta = _META_CHARSET.search(data[:4096])
        if meta:
            label = meta.group(1).decode("ascii", "ignore")
    text = decode_bytes(data, label, hints)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not html and params.get("format", "").lower() == "flowed":
        text = _unflow(text, params.get("delsp", "").lower() == "yes")
    return text


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (those ending in a space)."""
    out: list[str] = []
    depth_now = -1
    buffer: str | None = None

    def emit() -> None:
        nonlocal buffer
        if buffer is not None:
            out.append(">" * depth_now + (" " if depth_now else "") + buffer)
            buffer = None

    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        if body.startswith(" "):
            body = body[1:]  # space-stuffing
        flowed = body.endswith(" ") and body != "-- "
        if flowed and delsp:
            body = body[:-1]
        if buffer is not None and depth != depth_now:
            emit()
        depth_now = depth
        buffer = (buffer or "") + body
        if not flowed:
            emit()
    emit()
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Bounces (RFC 3464)
# ---------------------------------------------------------------------------------------------

_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def _report_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # the standard library parsed the blocks as header sets
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                blocks.append("\n".join(f"{k}: {_unfold(str(v))}" for k, v in block.raw_items()))
        return "\n\n".join(blocks)
    return decode_bytes(_payload_bytes(part), None)


def _fields_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
            continue
        if line[0] in " \t" and last:
            current[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _after_type(value: str) -> str:
    """ "rfc822; user@example.com" -> "user@example.com"."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _delivery_status(walk: _Walk, root: Message) -> DeliveryStatus | None:
    status_parts = [
        p
        for ctype, p, parent in walk.reports
        if ctype in ("message/delivery-status", "message/global-delivery-status")
        and parent == "multipart/report"
    ]
    if not status_parts:
        return None
    recipients: list[dict[str, str]] = []
    for part in status_parts:
        for block in _fields_blocks(_report_text(part)):
            if "final-recipient" in block or "original-recipient" in block:
                recipients.append(block)
    chosen: dict[str, str] = {}
    for test in (
        lambda b: b.get("action", "").lower().startswith("failed"),
        lambda b: b.get("status", "").strip().startswith("5"),
        lambda b: True,
    ):
        chosen = next((b for b in recipients if test(b)), {})
        if chosen:
            break
    recipient = _after_type(chosen.get("final-recipient") or chosen.get("original-recipient") or "")
    recipient = clean_address(recipient) or one_line(recipient, 254)
    status_raw = chosen.get("status", "")
    code = _STATUS_CODE.search(status_raw)
    status = code.group(1) if code else one_line(status_raw, 32)
    diagnostic = one_line(_after_type(chosen.get("diagnostic-code", "")), 1000)
    return DeliveryStatus(
        original_message_id=_original_message_id(walk),
        recipient=recipient,
        status=status,
        diagnostic=diagnostic,
    )


def _original_message_id(walk: _Walk) -> str:
    for inner, parent in walk.forwarded:
        if parent == "multipart/report":
            ids = _ids(_raw_header(inner, "message-id") or "")
            if ids:
                return ids[0]
    for ctype, part, parent in walk.reports:
        if parent != "multipart/report" or "headers" not in ctype:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            ids = _ids(_raw_header(payload[0], "message-id") or "")
            if ids:
                return ids[0]
            continue
        text = decode_bytes(_payload_bytes(part), None)
        match = re.search(r"(?im)^message-id:[ \t]*(.*(?:\r?\n[ \t]+.*)*)", text)
        if match:
            ids = _ids(match.group(1))
            if ids:
                return ids[0]
    return ""


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------

_KEPT_HEADER_LIMIT = 4000


def parse(
    raw: bytes, *, max_attachment_bytes: int = 10 * 1024 * 1024, max_parts: int = 1000
) -> ParsedEmail:
    """Parse a raw message. Never raises: what could not be understood is in ``defects``."""
    result = ParsedEmail()
    try:
        _parse_into(result, raw, max_attachment_bytes=max_attachment_bytes, max_parts=max_parts)
    except Exception as exc:  # the contract: never raise
        result.defects.append(f"the message could not be parsed ({type(exc).__name__})")
        if not (result.text or result.html):
            with contextlib.suppress(Exception):
                result.text = _fallback_text(raw)
    return result


def _fallback_text(raw: bytes) -> str:
    """The body as text when the MIME structure could not be read at all."""
    separator = re.search(rb"\r?\n\r?\n", raw)
    body = raw[separator.end() :] if separator else raw
    return decode_bytes(body[:1_000_000], None).replace("\r\n", "\n").replace("\x00", "")


def _parse_into(
    result: ParsedEmail, raw: bytes, *, max_attachment_bytes: int, max_parts: int
) -> None:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("parse() needs bytes")
    raw = bytes(raw)
    structure = True
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(raw)
    except Exception as exc:  # e.g. RecursionError on absurdly deep nesting
        result.defects.append(f"the MIME structure could not be read ({type(exc).__name__})")
        message = BytesParser(policy=email.policy.default).parsebytes(raw, headersonly=True)
        structure = False
        with contextlib.suppress(Exception):
            result.text = _fallback_text(raw)

    walk = _Walk(hints=(), max_parts=max(1, max_parts), max_attachment_bytes=max_attachment_bytes)
    # raw 8-bit headers are usually in the charset of the body: find it before the headers
    walk.hints = _charset_hints(message)
    hints = walk.hints
    _headers(result, message, hints)
    if structure:
        _walk(message, walk)
    result.defects.extend(dict.fromkeys(walk.defects))
    for part, is_html in ((walk.text_part, False), (walk.html_part, True)):
        if part is None:
            continue
        if _looks_binary(_payload_bytes(part)) and not _wide_charset(part, hints):
            result.defects.append("the message body is binary data, not text; kept as a file")
            _attach(
                walk, "body.bin", "application/octet-stream", _payload_bytes(part), "", inline=False
            )
            continue
        try:
            value = _part_text(part, hints, html=is_html)
        except Exception as exc:
            result.defects.append(
                f"the {'HTML' if is_html else 'text'} body could not be read ({type(exc).__name__})"
            )
            continue
        if is_html:
            result.html = value
        else:
            result.text = value
    if result.html and not result.text.strip():
        result.text = html_to_text(result.html)
    result.attachments = walk.attachments
    result.oversized = walk.oversized
    try:
        result.delivery_status = _delivery_status(walk, message)
    except Exception as exc:
        result.defects.append(f"the delivery report could not be read ({type(exc).__name__})")


_BINARY_BYTES = (
    bytes(range(0, 9)) + b"\x0e\x0f" + bytes(range(0x10, 0x1B)) + bytes(range(0x1C, 0x20))
)


def _looks_binary(data: bytes) -> bool:
    """Bytes no mail client sends as text: NULs, or many control characters."""
    sample = data[:8192]
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _BINARY_BYTES))
    return controls > max(8, len(sample) // 20)


def _wide_charset(part: Message, hints: tuple[str | None, ...]) -> bool:
    codec = normalize_charset(_content_type(part, hints)[1].get("charset"))
    return bool(codec) and str(codec).startswith(("utf-16", "utf-32"))


def _charset_hints(message: Message) -> tuple[str | None, ...]:
    hints: list[str] = []
    with contextlib.suppress(Exception):
        for index, part in enumerate(message.walk()):
            if index > 50 or len(hints) >= 2:
                break
            if part.is_multipart():
                continue
            raw = _raw_header(part, "content-type")
            if raw is None:
                continue
            _main, params = header_params(raw)
            label = params.get("charset")
            if label and normalize_charset(label) not in (None, "utf-8", "cp1252"):
                hints.append(label)
    return tuple(hints)


def _headers(result: ParsedEmail, message: Message, hints: tuple[str | None, ...]) -> None:
    seen: dict[str, str] = {}
    for key, value in message.raw_items():
        name = str(key).strip().lower()
        if name in seen:
            continue
        try:
            seen[name] = one_line(decode_header_text(str(value), hints), _KEPT_HEADER_LIMIT)
        except Exception as exc:
            seen[name] = ""
            result.defects.append(f"the {name} header could not be read ({type(exc).__name__})")
    result.headers = seen

    def step(label: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            result.defects.append(f"the {label} header could not be read ({type(exc).__name__})")

    def subject() -> None:
        raw = _raw_header(message, "subject")
        if raw is not None:
            result.subject = one_line(decode_header_text(raw, hints), 255)

    def sender() -> None:
        pairs = _addresses(_raw_headers(message, "from"), hints)
        if pairs:
            result.from_name, result.from_address = pairs[0]
        else:
            raw = _raw_header(message, "from")
            if raw:
                result.from_name = one_line(decode_header_text(raw, hints), 255)
                result.defects.append("the sender address could not be read")

    def reply_to() -> None:
        pairs = _addresses(_raw_headers(message, "reply-to"), hints)
        if pairs:
            result.reply_to = pairs[0][1]

    def recipients() -> None:
        result.to = _addresses(_raw_headers(message, "to"), hints)
        result.cc = _addresses(_raw_headers(message, "cc"), hints)

    def ids() -> None:
        found = _ids(_raw_header(message, "message-id") or "")
        result.message_id = found[0] if found else ""
        result.in_reply_to = _ids(" ".join(_raw_headers(message, "in-reply-to")))
        result.references = _ids(" ".join(_raw_headers(message, "references")))

    def date() -> None:
        raw = _raw_header(message, "date")
        if raw:
            result.date = _date(raw)

    step("Subject", subject)
    step("From", sender)
    step("Reply-To", reply_to)
    step("To/Cc", recipients)
    step("Message-ID", ids)
    step("Date", date)
