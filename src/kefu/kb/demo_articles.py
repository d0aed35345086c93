"""The demo company's knowledge base (禾喜家居 Hexi Home, a home-appliance shop): categories,
articles in zh-hans (some also in zh-hant and en), FAQ entries with other phrasings and one
internal article. Loaded by ``kefu.demo.ensure_kb_demo`` through the knowledge-base actions."""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = [
    # slug, name, {language: name}, description, sections [(slug, name, {language: name})]
    (
        "orders",
        "订单与配送",
        {"zh-hant": "訂單與配送", "en": "Orders & delivery"},
        "下单、付款、修改订单、物流与送货安装",
        [
            ("ordering", "下单与付款", {"zh-hant": "下單與付款", "en": "Ordering & payment"}),
            ("delivery", "配送与安装", {"zh-hant": "配送與安裝", "en": "Delivery & installation"}),
        ],
    ),
    (
        "returns",
        "退货与退款",
        {"zh-hant": "退貨與退款", "en": "Returns & refunds"},
        "七天无理由退货、换货、退款进度",
        [],
    ),
    (
        "warranty",
        "保修与维修",
        {"zh-hant": "保固與維修", "en": "Warranty & repairs"},
        "三包政策、常见故障、预约上门维修",
        [],
    ),
    (
        "account",
        "账户",
        {"zh-hant": "帳戶", "en": "Account"},
        "登录、密码、发票与个人信息",
        [],
    ),
]


@dataclass
class DemoArticle:
    category: str
    title: str
    body: str
    section: str = ""
    kind: str = "article"
    alternatives: tuple[str, ...] = ()
    internal: bool = False
    views: int = 0
    tags: tuple[str, ...] = ()
    translations: dict[str, tuple[str, str]] = field(default_factory=dict)  # lang: (title, body)


ARTICLES = [
    DemoArticle(
        "returns",
        "如何申请退货",
        "<p>禾喜家居支持<strong>签收后 7 天内无理由退货</strong>"
        "（商品完好、配件齐全、不影响二次销售）。"
        "大家电请保留原包装。</p>"
        "<h2>申请步骤</h2><ol><li>打开“我的订单”，找到要退的商品，点击<strong>申请退货</strong>。</li>"
        "<li>选择退货原因，上传商品照片（质量问题请拍下故障部位）。</li>"
        "<li>审核通过后（一般 1 个工作日内），按页面提示预约快递上门取件，或自行寄回。</li>"
        "<li>仓库签收并检验后，退款原路退回。</li></ol>"
        "<h2>运费谁出？</h2><p>质量问题的退货运费由我们承担；无理由退货的寄回运费由您承担，"
        "购买了运费险的订单可自动理赔。</p>"
        "<p>定制类商品、已激活的会员卡、清洁耗材拆封后不支持无理由退货。</p>",
        alternatives=("怎么退货", "退货流程", "买的东西不想要了怎么退", "七天无理由退货"),
        views=412,
        tags=("退货",),
    ),
    DemoArticle(
        "returns",
        "退款多久到账？",
        "<p>仓库确认收到退货后，退款会在 <strong>1–3 个工作日</strong>内原路退回：</p>"
        "<ul><li>微信、支付宝：通常当天到账</li><li>银行卡、信用卡：3–7 个工作日，以银行为准</li>"
        "<li>花呗分期：退回对应的分期额度</li></ul>"
        "<p>在“我的订单 › 退款详情”可以查看每一步的进度。</p>",
        kind="faq",
        alternatives=("退款什么时候到", "钱什么时候退回来", "退款进度查询", "退款没收到"),
        views=356,
        translations={
            "zh-hant": (
                "退款多久到帳？",
                "<p>倉庫確認收到退貨後，退款會在 <strong>1–3 個工作日</strong>內原路退回："
                "微信、支付寶通常當天到帳；銀行卡、信用卡約 3–7 個工作日，以銀行為準。</p>",
            ),
            "en": (
                "When will I get my refund?",
                "<p>Once our warehouse has received the return, the refund goes back to the "
                "original payment method within <strong>1–3 working days</strong>. Bank cards "
                "may take 3–7 working days, depending on your bank.</p>",
            ),
        },
    ),
    DemoArticle(
        "returns",
        "换货流程",
        "<p>签收后 <strong>15 天内</strong>出现性能故障，可以申请换同型号新品。</p>"
        "<ol><li>在“我的订单”点击<strong>申请售后</strong>，选择“换货”。</li>"
        "<li>上传故障照片或视频，客服审核后安排上门取件。</li>"
        "<li>新品会在收到旧件后 48 小时内发出。</li></ol>",
        alternatives=("怎么换货", "坏了能换新的吗"),
        views=120,
    ),
    DemoArticle(
        "returns",
        "退款审批内部流程（仅客服可见）",
        "<p>金额 2000 元以下：一线客服直接在后台通过。2000 元以上：提交售后主管审批，"
        "备注订单号与质检结论。</p>"
        "<p>VIP 客户的无理由退货可免寄回运费，记得在会话里打上“vip”标签。</p>",
        internal=True,
    ),
    DemoArticle(
        "orders",
        "如何查询订单物流",
        "<p>登录后打开<strong>我的订单</strong>，点击订单下方的“查看物流”即可看到快递公司和运单号。</p>"
        "<p>大件商品（冰箱、洗衣机、空调）由合作物流送货，发货后会有短信通知司机电话。</p>",
        section="delivery",
        alternatives=("我的快递到哪了", "物流信息怎么看", "订单发货了吗"),
        views=298,
        translations={
            "zh-hant": (
                "如何查詢訂單物流",
                "<p>登入後打開<strong>我的訂單</strong>，點擊訂單下方的「查看物流」即可看到快遞公司和運單號。</p>",
            ),
            "en": (
                "How do I track my order?",
                "<p>Sign in, open <strong>My orders</strong> and click “Track delivery” under the "
                "order to see the carrier and the tracking number.</p>",
            ),
        },
    ),
    DemoArticle(
        "orders",
        "下单后可以修改收货地址吗？",
        "<p>订单<strong>发货前</strong>可以在“我的订单”里修改收货地址；已发货的订单请联系客服，"
        "我们会尝试联系快递改派（可能产生额外费用）。</p>",
        section="ordering",
        kind="faq",
        alternatives=("改地址", "收货地址填错了怎么办", "订单地址能改吗"),
        views=187,
    ),
    DemoArticle(
        "orders",
        "支持哪些付款方式？",
        "<p>支持微信支付、支付宝、银联卡和主流信用卡；满 1000 元可使用花呗分期（3/6/12 期）。"
        "暂不支持货到付款。</p>",
        section="ordering",
        kind="faq",
        alternatives=("可以用花呗吗", "能货到付款吗", "支持信用卡吗", "分期付款"),
        views=143,
    ),
    DemoArticle(
        "orders",
        "配送需要多长时间？",
        "<p>现货商品 48 小时内发货。江浙沪一般 1–2 天送达，其他地区 2–5 天；"
        "偏远地区和大件商品可能需要 5–7 天。</p>",
        section="delivery",
        views=220,
        translations={
            "en": (
                "How long does delivery take?",
                "<p>Items in stock ship within 48 hours. Delivery takes 1–2 days around "
                "Shanghai, 2–5 days elsewhere, and up to 7 days for remote areas or large "
                "appliances.</p>",
            )
        },
    ),
    DemoArticle(
        "orders",
        "大件商品送货上门与安装",
        "<p>冰箱、洗衣机、空调、热水器免费送货上门；空调和热水器含标准安装，"
        "超出标准的铜管、支架按价目表收费。安装师傅会在送货前一天电话预约时间。</p>",
        section="delivery",
        alternatives=("空调安装收费吗", "送货上楼吗"),
        views=96,
    ),
    DemoArticle(
        "warranty",
        "三包政策与保修期",
        "<p>所有商品享受国家三包：<strong>7 天退货、15 天换货、1 年保修</strong>。"
        "空调压缩机、冰箱压缩机保修 10 年，扫地机器人电池保修 1 年。</p>"
        "<p>保修凭订单记录即可，无需纸质发票。</p>",
        alternatives=("保修多久", "保修期是多少", "三包"),
        views=205,
        translations={
            "en": (
                "Warranty policy",
                "<p>Every product comes with 7-day returns, 15-day exchanges and a 1-year "
                "warranty. Compressors of air conditioners and fridges are covered for 10 "
                "years.</p>",
            )
        },
    ),
    DemoArticle(
        "warranty",
        "扫地机器人不充电怎么办",
        "<p>请按顺序检查：</p><ol><li>充电座指示灯是否亮起（不亮请换一个插座）。</li>"
        "<li>用干布擦拭机器底部和充电座的金属触点。</li>"
        "<li>长按电源键 10 秒重启机器。</li></ol>"
        "<p>仍然无法充电时，可能是电池或充电座故障，请申请保修，我们会安排寄修。</p>",
        alternatives=("扫地机器人充不进电", "扫地机不回充", "机器人电池坏了"),
        views=164,
        tags=("扫地机器人",),
    ),
    DemoArticle(
        "warranty",
        "如何预约上门维修？",
        "<p>在“我的订单 › 申请售后”选择“上门维修”，填写故障描述和方便的时间；"
        "工程师会在 24 小时内电话联系您确认。保修期内上门和维修免费。</p>",
        kind="faq",
        alternatives=("师傅上门修", "报修", "家电坏了找谁修"),
        views=131,
    ),
    DemoArticle(
        "account",
        "忘记密码怎么办？",
        "<p>在登录页点击“忘记密码”，输入注册手机号获取验证码后即可设置新密码。</p>",
        kind="faq",
        alternatives=("登录不上", "密码忘了", "重置密码"),
        views=88,
        translations={
            "zh-hant": (
                "忘記密碼怎麼辦？",
                "<p>在登入頁點擊「忘記密碼」，輸入註冊手機號碼取得驗證碼後即可設定新密碼。</p>",
            )
        },
    ),
    DemoArticle(
        "account",
        "如何开具发票",
        "<p>下单时可选择电子普通发票或增值税专用发票。已下单的订单可在“我的订单 › 申请发票”补开，"
        "电子发票会在确认收货后 24 小时内发送到您的邮箱。</p>",
        alternatives=("开发票", "发票抬头", "增值税专票"),
        views=74,
    ),
]
