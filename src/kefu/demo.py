"""Demo data for ``kefu demo`` and ``kefu loaddemo``: a small, believable help desk.

A consumer-electronics company (禾夕智能 Hexi Home: robot vacuums, air purifiers, a smart
kettle) with three teams, five agents, customers in mainland China, Hong Kong, Taiwan and the
UK, and about twenty conversations over the last month in Simplified Chinese, Traditional
Chinese and English.

Conversations and customers are written through their actions, exactly as channels and agents
would write them. Afterwards the timestamps are moved into the past (seed data only), so the
inbox, the timelines and the SLA figures look like a month of real work.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from kefu.conversations import actions as conv
from kefu.conversations.models import Channel, Conversation, Kind, Message, Priority, Status
from kefu.core.models import Tag
from kefu.customers import actions as cust
from kefu.customers.models import (
    Customer,
    CustomerNote,
    Organization,
    Preference,
    Tier,
    TimelineEntry,
)
from kefu.staff.models import AgentProfile, Team

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
PASSWORD = "kefu-demo"

# ---------------------------------------------------------------------------------------------
# Staff
# ---------------------------------------------------------------------------------------------

_TEAMS = (
    (
        "presales",
        "售前咨询 Pre-sales",
        "产品选购、报价、订单与发货。Product advice, quotes, orders.",
    ),
    (
        "aftersales",
        "售后服务 After-sales",
        "退换货、三包维修、安装与使用。Returns, repairs, usage.",
    ),
    ("key-accounts", "大客户 Key accounts", "企业客户与 VIP。Business customers and VIPs."),
)


@dataclass(frozen=True)
class _Agent:
    username: str
    first_name: str
    last_name: str
    display_name: str
    teams: tuple[str, ...]
    language: str
    timezone: str
    role: str = AgentProfile.Role.AGENT
    presence: str = AgentProfile.Presence.OFFLINE
    skills: str = ""
    signature: str = ""


_AGENTS = (
    _Agent(
        username=DEMO_USERNAME,
        first_name="Demo",
        last_name="",
        display_name="Demo 主管",
        teams=("presales", "aftersales", "key-accounts"),
        language="",
        timezone="Asia/Shanghai",
        role=AgentProfile.Role.SUPERVISOR,
        presence=AgentProfile.Presence.ONLINE,
        skills="escalations, VIP, 投诉处理",
        signature="Demo · 禾夕智能客服主管 Hexi Home Support",
    ),
    _Agent(
        username="li.na",
        first_name="李娜",
        last_name="",
        display_name="李娜",
        teams=("aftersales",),
        language="zh-hans",
        timezone="Asia/Shanghai",
        presence=AgentProfile.Presence.ONLINE,
        skills="退换货, 三包维修, 扫地机器人",
        signature="李娜 · 禾夕智能售后服务\n400-820-6688（9:00–21:00）",
    ),
    _Agent(
        username="chen.wei",
        first_name="陈伟",
        last_name="",
        display_name="陈伟",
        teams=("presales", "key-accounts"),
        language="zh-hans",
        timezone="Asia/Shanghai",
        presence=AgentProfile.Presence.ONLINE,
        skills="报价, 企业采购, 发票",
        signature="陈伟 · 禾夕智能大客户经理",
    ),
    _Agent(
        username="amy.wong",
        first_name="黃美玲",
        last_name="",
        display_name="黃美玲",
        teams=("aftersales",),
        language="zh-hant",
        timezone="Asia/Hong_Kong",
        presence=AgentProfile.Presence.AWAY,
        skills="粵語, 繁體中文, 空氣清新機",
        signature="黃美玲 Amy · 禾夕智能香港客戶服務",
    ),
    _Agent(
        username="tom.baker",
        first_name="Tom",
        last_name="Baker",
        display_name="Tom Baker",
        teams=("presales",),
        language="en",
        timezone="Europe/London",
        skills="English, UK & EU sales, quotes",
        signature="Tom Baker · Hexi Home UK Sales",
    ),
)

_TEAM_LEADS = {"presales": "chen.wei", "aftersales": "li.na", "key-accounts": DEMO_USERNAME}

# ---------------------------------------------------------------------------------------------
# Organizations and customers
# ---------------------------------------------------------------------------------------------

_ORGANIZATIONS = (
    (
        "hualian",
        "华联超市",
        "hualian-market.cn",
        Tier.KEY_ACCOUNT,
        "连锁超市，120 家门店。门店展示机与员工休息室采购 P3 空气净化器，年度框架合同。",
    ),
    (
        "hangshun",
        "恒信貿易 (Hong Kong)",
        "hangshun.com.hk",
        Tier.VIP,
        "中環辦公室，28 部 P3 空氣清新機，年度保養計劃。",
    ),
    (
        "northwind",
        "Northwind Ltd",
        "northwind.co.uk",
        Tier.KEY_ACCOUNT,
        "London-based distributor; X1 vacuums for their offices, P3 quote in progress.",
    ),
)


@dataclass(frozen=True)
class _Customer:
    key: str
    name: str
    language: str
    email: str = ""
    phone: str = ""
    visitor: str = ""
    tier: str = Tier.NORMAL
    birthday: date | None = None
    organization: str = ""
    owner: str = ""
    team: str = ""
    since_days: int = 30
    preferences: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    portal_user: str = ""


_P = Preference.Kind

_CUSTOMERS = (
    _Customer(
        "zhang.wei",
        "张伟",
        "zh-hans",
        email="zhangwei1985@qq.com",
        phone="139 1062 8835",
        tier=Tier.VIP,
        birthday=date(1985, 6, 18),
        owner="chen.wei",
        team="key-accounts",
        since_days=420,
        portal_user="zhang.wei",
        preferences=(
            (_P.PERSONAL, "喜欢喝茶（龙井），来访时备茶"),
            (_P.CONTACT, "18:00 以后来电，白天常在开会"),
            (_P.PRODUCT, "扫地机器人 X1（两台）、空气净化器 P3"),
        ),
        notes=(
            "老客户，累计购买 5 台设备，多次推荐朋友购买。对响应速度要求高，"
            "有问题先电话安抚，再书面跟进。",
        ),
        tags=("老客户",),
    ),
    _Customer(
        "wang.fang",
        "王芳",
        "zh-hans",
        email="wangfang_sh@163.com",
        phone="159 2187 3306",
        birthday=date(1992, 11, 3),
        since_days=45,
        preferences=(
            (_P.CHANNEL, "只用微信/邮件联系，不接电话"),
            (_P.PRODUCT, "空气净化器 P3、智能电水壶 K2"),
        ),
    ),
    _Customer(
        "li.xiuying",
        "李秀英",
        "zh-hans",
        email="lixiuying62@163.com",
        phone="136 0228 4417",
        birthday=date(1962, 3, 21),
        since_days=380,
        preferences=(
            (_P.CONTACT, "上午 9–11 点方便接电话"),
            (_P.PERSONAL, "年纪较大，不太会网购：说话慢一点，一步一步解释"),
        ),
    ),
    _Customer(
        "liu.yang",
        "刘洋",
        "zh-hans",
        email="liuyang@hualian-market.cn",
        phone="186 1675 2290",
        tier=Tier.KEY_ACCOUNT,
        organization="hualian",
        owner="chen.wei",
        team="key-accounts",
        since_days=300,
        preferences=(
            (_P.OTHER, "发票抬头：华联超市连锁有限公司，税号 91310115MA1H7Q2X3K"),
            (_P.CONTACT, "工作日 9:00–17:30，午休 12–13 点不要打扰"),
        ),
        notes=("华联超市采购经理，负责 120 家门店的净化器采购。月底前要发票入账。",),
        tags=("b2b",),
    ),
    _Customer(
        "chen.jing",
        "陈静",
        "zh-hans",
        email="chenjing@hualian-market.cn",
        phone="138 1662 0475",
        tier=Tier.KEY_ACCOUNT,
        organization="hualian",
        owner="chen.wei",
        team="key-accounts",
        since_days=200,
        notes=("华联超市徐汇店店长，门店有 2 台 P3 展示机。",),
        tags=("b2b",),
    ),
    _Customer(
        "zhao.min",
        "赵敏",
        "zh-hans",
        email="zhaomin0607@qq.com",
        phone="137 7552 0981",
        since_days=12,
        preferences=((_P.CHANNEL, "只用微信/邮件联系"),),
        notes=("曾因物流延误投诉。沟通时先道歉，再给出明确的时间点。",),
        tags=("需安抚",),
    ),
    _Customer(
        "sun.qiang",
        "孙强",
        "zh-hans",
        email="sunqiang_bj@163.com",
        phone="135 0116 7342",
        birthday=date(1979, 8, 30),
        since_days=130,
        preferences=((_P.PRODUCT, "智能电水壶 K2（京东自营购买）"),),
    ),
    _Customer(
        "chan.chiming",
        "陳志明",
        "zh-hant",
        email="chiming.chan@yahoo.com.hk",
        phone="+852 9123 4567",
        since_days=10,
        preferences=((_P.LANGUAGE, "講廣東話，書面用繁體中文"),),
    ),
    _Customer(
        "wong.shukfan",
        "黃淑芬",
        "zh-hant",
        email="shukfan.wong@hangshun.com.hk",
        phone="+852 2815 3360",
        tier=Tier.VIP,
        birthday=date(1978, 9, 9),
        organization="hangshun",
        owner="amy.wong",
        team="key-accounts",
        since_days=540,
        preferences=(
            (_P.PERSONAL, "鍾意飲普洱"),
            (_P.CONTACT, "急事打手機 +852 6188 2740（秘書何小姐代接）"),
            (_P.LANGUAGE, "電郵用英文或繁體中文都可以，電話講廣東話"),
        ),
        notes=("恒信貿易行政部主管，負責中環辦公室設備。年度保養計劃每年續約。",),
        tags=("vip-hk",),
    ),
    _Customer(
        "lin.yijun",
        "林怡君",
        "zh-hant",
        email="yijun.lin@gmail.com",
        phone="+886 912 345 678",
        birthday=date(1995, 2, 14),
        since_days=40,
        preferences=((_P.PRODUCT, "空氣清淨機 P3（台灣代理商購買）"),),
    ),
    _Customer(
        "chang.chiahao",
        "張家豪",
        "zh-hant",
        email="chiahao.chang@hotmail.com",
        phone="+886 933 218 406",
        since_days=20,
    ),
    _Customer(
        "emily.carter",
        "Emily Carter",
        "en",
        email="emily.carter@northwind.co.uk",
        phone="+44 20 7946 0321",
        tier=Tier.KEY_ACCOUNT,
        organization="northwind",
        owner="tom.baker",
        team="presales",
        since_days=150,
        preferences=(
            (_P.CONTACT, "Calls 14:00–17:00 UK time"),
            (_P.CHANNEL, "Email first; quotes as PDF"),
        ),
        notes=(
            "Facilities Manager at Northwind. Moving into a new London office; "
            "budget approved for air purifiers.",
        ),
        tags=("b2b",),
    ),
    _Customer(
        "oliver.smith",
        "Oliver Smith",
        "en",
        email="oliver.smith@northwind.co.uk",
        phone="+44 20 7946 0588",
        tier=Tier.KEY_ACCOUNT,
        organization="northwind",
        owner="tom.baker",
        team="presales",
        since_days=150,
    ),
    _Customer(
        "james.wilson",
        "James Wilson",
        "en",
        email="jwilson.home@gmail.com",
        phone="+44 7700 900123",
        since_days=8,
    ),
    _Customer(
        "sarah.chen",
        "Sarah Chen",
        "en",
        email="sarah.chen@outlook.com",
        since_days=0,
        preferences=((_P.LANGUAGE, "prefers English (reads some Chinese)"),),
    ),
    _Customer("visitor", "", "zh-hans", visitor="v-7c1e9a42", since_days=0),
)

# ---------------------------------------------------------------------------------------------
# Conversations: each a story of steps, minutes apart
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    op: str  # in, reply, note, assign, status, priority, kind, tag
    after: int  # minutes after the previous step
    who: str | None = None  # acting agent's username; None: the system (routing, auto-close)
    text: str = ""
    value: str = ""
    team: str | None = None
    tags: tuple[str, ...] = ()


def _in(after: int, text: str) -> _Step:
    return _Step("in", after, text=text)


def _reply(after: int, who: str, text: str, status: str = "") -> _Step:
    return _Step("reply", after, who, text=text, value=status)


def _note(after: int, who: str, text: str) -> _Step:
    return _Step("note", after, who, text=text)


def _assign(after: int, who: str | None, assignee: str, team: str) -> _Step:
    return _Step("assign", after, who, value=assignee, team=team)


def _status(after: int, who: str | None, status: str) -> _Step:
    return _Step("status", after, who, value=status)


def _priority(after: int, who: str, priority: str) -> _Step:
    return _Step("priority", after, who, value=priority)


def _kind(after: int, who: str, kind: str) -> _Step:
    return _Step("kind", after, who, value=kind)


def _tag(after: int, who: str, *tags: str) -> _Step:
    return _Step("tag", after, who, tags=tags)


@dataclass(frozen=True)
class _Story:
    customer: str
    channel: str
    language: str
    subject: str
    body: str
    days: int  # days ago
    at: str  # local time of the first message ("HH:MM"), or "" for `minutes_ago`
    steps: tuple[_Step, ...] = ()
    minutes_ago: int = 0
    team: str | None = None
    priority: str = Priority.NORMAL
    kind: str = Kind.QUESTION
    metadata: dict[str, Any] = field(default_factory=dict)


HOUR, DAY = 60, 24 * 60
_S = Status

_STORIES = (
    # Oldest first. ---------------------------------------------------------------------------
    _Story(
        "oliver.smith",
        Channel.EMAIL,
        "en",
        "Copy of invoice for PO NW-4471",
        (
            "Hello,\n\n"
            "Our accounts team can't find the invoice for PO NW-4471 (12 × X1 robot vacuums, "
            "delivered last month). Could you resend a copy to accounts@northwind.co.uk and "
            "to me?\n\nThanks,\nOliver Smith\nIT & Procurement, Northwind Ltd"
        ),
        days=28,
        at="16:10",
        team="presales",
        steps=(
            _assign(45, None, "tom.baker", "presales"),
            _tag(3, "tom.baker", "invoice"),
            _reply(
                10,
                "tom.baker",
                "Hi Oliver,\n\nI've resent invoice INV-UK-10293 for PO NW-4471 to "
                "accounts@northwind.co.uk, with you in copy. Let me know if anything else "
                "is missing.\n\nBest regards,\nTom",
                status=_S.SOLVED,
            ),
            _in(3 * HOUR, "Got it, many thanks!"),
            _status(6, "tom.baker", _S.SOLVED),
            _status(3 * DAY, None, _S.CLOSED),
        ),
    ),
    _Story(
        "wong.shukfan",
        Channel.EMAIL,
        "zh-hant",
        "年度保養計劃續約",
        (
            "Amy 你好，\n\n"
            "我哋嘅年度保養計劃下個月到期，想續約多一年。"
            "今年辦公室加咗 8 部 P3，麻煩一併計入，並報個價俾我。\n\n"
            "黃淑芬\n恒信貿易有限公司 行政部"
        ),
        days=27,
        at="10:30",
        team="key-accounts",
        kind=Kind.REQUEST,
        steps=(
            _note(
                25,
                "amy.wong",
                "黃小姐係我跟開嘅客。報價已經準備好（28 部 × HK$1,200，九折），"
                "交畀 Demo 主管審批。",
            ),
            _assign(20, DEMO_USERNAME, DEMO_USERNAME, "key-accounts"),
            _tag(1, DEMO_USERNAME, "renewal"),
            _reply(
                40,
                DEMO_USERNAME,
                "黃小姐你好，\n\n多謝續約！合共 28 部 P3 嘅年度保養計劃"
                "（包每季上門清潔檢查、全年濾網更換、24 小時內到場維修）"
                "報價為 HK$30,240，已經係九折優惠。報價單 PDF 已附上，"
                "確認後我哋會安排合約。\n\nDemo\n禾夕智能客服主管",
                status=_S.PENDING,
            ),
            _in(DAY + 2 * HOUR, "價錢 OK。合約請寄俾我哋法務 legal@hangshun.com.hk，多謝。"),
            _reply(30, DEMO_USERNAME, "收到，合約已經寄出，多謝你哋一直嘅支持！", _S.SOLVED),
            _status(4 * DAY, None, _S.CLOSED),
        ),
    ),
    _Story(
        "wang.fang",
        Channel.WEB,
        "zh-hans",
        "订单 KF-883012 什么时候发货？",
        (
            "你好，我 3 天前在官网下单了一台空气净化器 P3（订单号 KF-883012），"
            "页面一直显示“待发货”。请问什么时候能发？"
            "家里刚装修完，比较急，谢谢。"
        ),
        days=25,
        at="10:12",
        team="presales",
        steps=(
            _assign(3, None, "chen.wei", "presales"),
            _reply(
                9,
                "chen.wei",
                "王女士您好，感谢您的耐心等待！订单 KF-883012 今天上午已从上海仓出库，"
                "顺丰单号 SF1402 8837 5521，预计明天送达。\n"
                "刚装修完的房子建议先开窗通风几天，再配合 P3 的“除甲醛”模式使用，"
                "效果更好。",
            ),
            _tag(1, "chen.wei", "shipping"),
            _in(DAY + 2 * HOUR, "收到了，快递小哥很给力，谢谢！"),
            _reply(
                15,
                "chen.wei",
                "不客气，祝您使用愉快！有任何问题欢迎随时在官网留言或拨打 400-820-6688。",
                status=_S.SOLVED,
            ),
        ),
    ),
    _Story(
        "zhang.wei",
        Channel.CHAT,
        "zh-hans",
        "X1 扫地机器人找不到充电座",
        "你好，我家客厅那台 X1 最近扫完地老是回不去充电座，在客厅转圈，最后没电停在沙发底下。",
        days=20,
        at="19:40",
        team="aftersales",
        kind=Kind.AFTER_SALES,
        metadata={"page": "https://www.hexi-home.example/support/x1"},
        steps=(
            _reply(
                2,
                "li.na",
                "张先生您好！先别着急，麻烦您检查一下：\n"
                "1. 充电座左右 0.5 米、前方 1.5 米内不要有遮挡物；\n"
                "2. 用干布擦一下机器底部的回充传感器和充电座的信号窗；\n"
                "3. 充电座尽量靠墙放，不要放在地毯上。",
            ),
            _in(6, "充电座前面确实放了个猫爬架，我挪开试试。"),
            _in(40, "挪开就好了，回充正常了。谢谢！"),
            _reply(
                3,
                "li.na",
                "太好了！另外提醒您，X1 的边刷和滤网大约每 3 个月换一次，"
                "您这台用了一年多了，我给您免费寄一套配件（VIP 专享）。",
                status=_S.SOLVED,
            ),
            _note(2, "li.na", "VIP 客户，已安排免费寄送 X1 配件包一套（边刷 ×2、滤网 ×2）。"),
            _status(7 * DAY, None, _S.CLOSED),
        ),
    ),
    _Story(
        "lin.yijun",
        Channel.WEB,
        "zh-hant",
        "請問空氣清淨機 P3 的保固期多久？",
        (
            "您好，我上個月在台灣的代理商購買了空氣清淨機 P3，想請問保固期是多久？"
            "濾網有包含在保固內嗎？另外保固需要先上網登錄嗎？謝謝。"
        ),
        days=15,
        at="20:40",
        team="aftersales",
        steps=(
            _assign(12 * HOUR, None, "amy.wong", "aftersales"),
            _reply(
                20,
                "amy.wong",
                "林小姐您好，感謝您的來信！\n"
                "1. P3 主機享有一年保固，自購買日（以發票日期為準）起算；馬達另享三年保固。\n"
                "2. 濾網屬於耗材，不在保固範圍內，建議每 6–8 個月更換一次。\n"
                "3. 保固不需要另外登錄，保留購買發票或收據即可；"
                "若在官網登錄產品序號，濾網該更換時我們會提醒您。",
            ),
            _tag(1, "amy.wong", "保修"),
            _in(90, "了解，說明得很清楚，謝謝您！"),
            _reply(10, "amy.wong", "不客氣，祝您使用愉快！", status=_S.SOLVED),
        ),
    ),
    _Story(
        "sun.qiang",
        Channel.PHONE,
        "zh-hans",
        "智能电水壶 K2 不加热，申请三包维修",
        (
            "你好，我 4 个月前在京东自营买的智能电水壶 K2，这两天插上电指示灯是亮的，"
            "但水就是烧不开，按加热键也没反应。换了插座也一样。这个能保修吗？"
        ),
        days=12,
        at="14:20",
        team="aftersales",
        metadata={"call_id": "CTI-20931", "duration_seconds": 312, "from": "+8613501167342"},
        steps=(
            _assign(1, None, "li.na", "aftersales"),
            _kind(5, "li.na", Kind.AFTER_SALES),
            _tag(0, "li.na", "保修", "三包"),
            _reply(
                2,
                "li.na",
                "孙先生您好，按三包规定，K2 购买一年内享受免费保修，您的水壶在保修期内。"
                "请按电话里说的方式寄修：\n"
                "1. 水壶和底座一起包装好（不需要原包装盒）；\n"
                "2. 附上京东订单截图或发票；\n"
                "3. 寄到：上海市闵行区申长路 988 号 禾夕智能维修中心 售后部，运费到付。\n"
                "维修中心收到后 3–5 个工作日修好寄回。",
                status=_S.PENDING,
            ),
            _in(2 * DAY, "已经寄出了，圆通单号 YT7452 1180 3396，发票照片也放在箱子里了。"),
            _note(
                DAY + 3 * HOUR,
                "li.na",
                "维修中心已签收并检测：温控器损坏，属于质量问题，按三包免费更换。"
                "温控器缺货，供应商预计下周二到货。",
            ),
            _reply(
                10,
                "li.na",
                "孙先生您好，维修中心已收到您的水壶，检测是温控器故障，属于保修范围，免费更换。"
                "配件正在调货，预计下周二到，修好后第一时间顺丰寄回并通知您。给您添麻烦了！",
                status=_S.ON_HOLD,
            ),
        ),
    ),
    _Story(
        "chan.chiming",
        Channel.CHAT,
        "zh-hant",
        "張單幾時到？",
        "你好，我上星期六喺網店落咗張單 KF-880231，買咗部 X1 掃地機械人寄香港，想問幾時會到？",
        days=9,
        at="13:05",
        team="presales",
        metadata={"page": "https://www.hexi-home.example/hk/orders"},
        steps=(
            _reply(
                3,
                DEMO_USERNAME,
                "陳生你好！我幫你查咗，KF-880231 已經喺深圳倉出貨，"
                "順豐單號 SF1402 7765 0093，今日已經過咗關，預計聽日送到。",
            ),
            _tag(0, DEMO_USERNAME, "shipping"),
            _in(2, "可唔可以改送去公司？日頭屋企冇人。觀塘巧明街 100 號 12 樓。"),
            _reply(
                4,
                DEMO_USERNAME,
                "冇問題，已經通知順豐改送觀塘巧明街 100 號 12 樓，聽日辦公時間送到。",
            ),
            _in(1, "唔該晒！"),
            _reply(1, DEMO_USERNAME, "唔使客氣，祝你用得開心！", status=_S.SOLVED),
        ),
    ),
    _Story(
        "wang.fang",
        Channel.WEB,
        "zh-hans",
        "K2 水壶有塑料味，申请 7 天无理由退货",
        (
            "你好，我 5 天前买的智能电水壶 K2（订单号 KF-887120），烧出来的水一直有塑料味，"
            "我对气味比较敏感，想退货退款，现在还在 7 天内。"
        ),
        days=7,
        at="21:50",
        team="aftersales",
        kind=Kind.REQUEST,
        steps=(
            _assign(11 * HOUR, None, "li.na", "aftersales"),
            _reply(
                10,
                "li.na",
                "王女士您好，新水壶初次使用可能有轻微气味，建议先用清水加少许白醋煮沸 2–3 次。"
                "如果处理后仍有异味，我们支持 7 天无理由退货：在订单页面点“申请退货”，"
                "原因选“商品异味”，快递上门取件，运费由我们承担。",
            ),
            _in(DAY + 30, "按你说的煮了三次，还是有味道。已经在订单页面申请退货了。"),
            _tag(5, "li.na", "退款", "退货"),
            _reply(
                15,
                "li.na",
                "收到，退货申请已审核通过，顺丰明天上午 9–12 点上门取件。"
                "仓库收到后 1–3 个工作日原路退款 199 元，到账后我再通知您。",
                status=_S.PENDING,
            ),
            _note(2, "li.na", "客户只接受微信/邮件联系，不要打电话（已在客户资料里）。"),
        ),
    ),
    _Story(
        "liu.yang",
        Channel.EMAIL,
        "zh-hans",
        "PO-2291 采购单开具增值税专用发票",
        (
            "陈经理您好：\n\n"
            "我司采购单 PO-2291（空气净化器 P3 × 50 台，含税总价 149,500 元）"
            "已全部到店验收，请尽快开具增值税专用发票。开票信息：\n"
            "名称：华联超市连锁有限公司\n"
            "纳税人识别号：91310115MA1H7Q2X3K\n"
            "地址电话：上海市浦东新区张杨路 1500 号 021-5836 7700\n"
            "开户行及账号：招商银行上海张江支行 1219 0876 5410 301\n\n"
            "发票请寄公司财务部王会计收，月底前要入账，麻烦了。\n\n"
            "刘洋\n华联超市 采购部"
        ),
        days=6,
        at="10:05",
        team="key-accounts",
        kind=Kind.REQUEST,
        steps=(
            _assign(4, None, "chen.wei", "key-accounts"),
            _tag(1, "chen.wei", "发票"),
            _note(
                25,
                "chen.wei",
                "已提交财务开票申请（流水号 FP-0617）。注意：邮件里的电话 021-5836 7700 "
                "和合同上登记的 021-5836 7000 不一致，要先跟客户确认。",
            ),
            _reply(
                5,
                "chen.wei",
                "刘经理您好，开票申请已提交财务。核对时发现一处差异：邮件中公司电话为 "
                "021-5836 7700，合同上登记的是 021-5836 7000，请确认以哪个为准？"
                "确认后财务 2 个工作日内开出，顺丰寄到贵司财务部。",
                status=_S.PENDING,
            ),
        ),
    ),
    _Story(
        "emily.carter",
        Channel.EMAIL,
        "en",
        "Quote for 30 P3 air purifiers – London office",
        (
            "Hi Tom,\n\n"
            "Following our call last week, could you send a formal quote for 30 P3 air "
            "purifiers for our new London office (about 1,200 m², open plan plus six meeting "
            "rooms)? We'd also like pricing for a two-year filter subscription.\n\n"
            "Our finance team needs the quote in GBP, ex-VAT, as a PDF if possible.\n\n"
            "Kind regards,\nEmily Carter\nFacilities Manager, Northwind Ltd"
        ),
        days=5,
        at="17:00",
        team="presales",
        kind=Kind.REQUEST,
        steps=(
            _assign(30, None, "tom.baker", "presales"),
            _tag(1, "tom.baker", "quote", "b2b"),
            _reply(
                90,
                "tom.baker",
                "Hi Emily,\n\nThanks for the details. Here is the summary; the PDF follows "
                "from our sales system:\n\n"
                "• 30 × P3 air purifier at £289.00 = £8,670.00\n"
                "• Volume discount (10%): −£867.00\n"
                "• 2-year filter subscription (4 filter sets per unit): £2,160.00\n"
                "• Delivery and installation in central London: included\n\n"
                "Total ex-VAT: £9,963.00, valid for 30 days. For the meeting rooms I'd suggest "
                "one unit each plus 24 across the open-plan floor.\n\nBest,\nTom",
            ),
            _in(
                DAY,
                "Thanks Tom, this looks good. Can you guarantee delivery before the end of "
                "the month? We move in on the 28th.",
            ),
            _note(
                40,
                "tom.baker",
                "Felixstowe warehouse: 22 units in stock, 8 on the next container (ETA 12 "
                "days). Asked logistics whether we can split the shipment.",
            ),
        ),
    ),
    _Story(
        "james.wilson",
        Channel.EMAIL,
        "en",
        "Refund request – order KF-879450",
        (
            "Hello,\n\n"
            "I bought the Smart Kettle K2 from your online store last week (order KF-879450) "
            "and would like to return it for a refund. The product page said UK plug, but it "
            "arrived with a Chinese plug, and I'd rather not use an adapter on a kettle.\n\n"
            "How do I send it back, and when will I get my money?\n\nThanks,\nJames Wilson"
        ),
        days=4,
        at="16:30",
        team="aftersales",
        kind=Kind.REQUEST,
        steps=(
            _assign(20, DEMO_USERNAME, DEMO_USERNAME, "aftersales"),
            _tag(1, DEMO_USERNAME, "refund", "退款"),
            _reply(
                15,
                DEMO_USERNAME,
                "Hi James,\n\nSorry about that: the listing was wrong and we've asked the web "
                "team to fix it. You're well within the 30-day return window:\n\n"
                "1. We've emailed you a prepaid Royal Mail return label (RMA-30418).\n"
                "2. Pack the kettle in its box and drop it at any Post Office.\n"
                "3. When it reaches our Manchester warehouse we refund the full £59.00 to "
                "your original payment method, usually within 3–5 working days.\n\n"
                "If you'd rather swap it for the UK-plug version, just reply.\n\n"
                "Best regards,\nDemo",
                status=_S.PENDING,
            ),
            _in(
                DAY, "Thanks, I'd prefer the refund. I'll drop it off at the Post Office tomorrow."
            ),
            _reply(
                30,
                DEMO_USERNAME,
                "Perfect, thank you. I'll watch the tracking and confirm as soon as the refund "
                "is issued.",
                status=_S.PENDING,
            ),
        ),
    ),
    _Story(
        "zhao.min",
        Channel.EMAIL,
        "zh-hans",
        "下单 8 天了还没收到货，你们到底怎么回事？",
        (
            "我上周在你们官方旗舰店买了扫地机器人 X1（订单号 KF-884590），"
            "当时客服说 48 小时内发货、3 天能到。现在都第 8 天了，"
            "物流三天没更新，一直停在“武汉转运中心”。\n"
            "打 400 电话排队 20 分钟没人接。请给我一个明确的答复，不然我就去 12315 投诉了。"
        ),
        days=3,
        at="08:47",
        team="aftersales",
        steps=(
            _assign(6, None, "li.na", "aftersales"),
            _kind(4, "li.na", Kind.COMPLAINT),
            _priority(0, "li.na", Priority.HIGH),
            _tag(0, "li.na", "投诉", "shipping"),
            _note(
                12,
                "li.na",
                "查了顺丰后台：包裹 SF1402 9011 3378 在武汉转运中心滞留 3 天，分拣异常。"
                "已提交加急催件工单 CS-20817，顺丰承诺 24 小时内回复。",
            ),
            _reply(
                8,
                "li.na",
                "赵女士您好，非常抱歉让您久等了，也抱歉电话没能及时接通。"
                "我刚核实：您的包裹在顺丰武汉转运中心分拣时出现异常，滞留了 3 天。"
                "我已提交加急催件并全程跟进，明天中午 12 点前给您答复最新进展。"
                "为表歉意，我们给您的账户发放了 50 元无门槛优惠券。",
            ),
            _in(95, "优惠券我不需要。我只想明天能收到东西，如果明天还到不了，我要求全额退款。"),
            _note(
                20,
                "li.na",
                "@Demo 主管 客户情绪较大。建议：如明天中午前仍无物流更新，"
                "从上海仓顺丰次日达补发一台，原包裹拦截退回。需要主管审批补发。",
            ),
            _note(35, DEMO_USERNAME, "同意补发，运费我们承担。补发单号出来后第一时间告诉客户。"),
        ),
    ),
    _Story(
        "chang.chiahao",
        Channel.EMAIL,
        "zh-hant",
        "掃地機器人 X1 App 一直無法綁定 Wi-Fi",
        (
            "您好，我買了 X1 掃地機器人，照著說明書操作，App 一直卡在「正在連線」，"
            "然後顯示綁定失敗（錯誤碼 E-203）。家裡是中華電信的數據機，路由器是 ASUS。"
            "已經重開機好幾次了，請問該怎麼辦？"
        ),
        days=2,
        at="21:15",
        team="aftersales",
        steps=(
            _assign(11 * HOUR + 40, None, "amy.wong", "aftersales"),
            _reply(
                15,
                "amy.wong",
                "張先生您好，錯誤碼 E-203 通常是手機連在 5GHz 網路。X1 只支援 2.4GHz Wi-Fi，"
                "請您：\n"
                "1. 在 ASUS 路由器把 2.4GHz 與 5GHz 分成兩個不同名稱（關閉 Smart Connect）；\n"
                "2. 手機先連上 2.4GHz 那一個，再重新綁定；\n"
                "3. Wi-Fi 密碼請避免使用「&」「#」等特殊符號。\n"
                "若仍無法綁定，麻煩回覆手機型號與 App 版本，我們再協助排查。",
                status=_S.PENDING,
            ),
            _tag(1, "amy.wong", "app", "wifi"),
        ),
    ),
    _Story(
        "oliver.smith",
        Channel.WEB,
        "en",
        "Replacement filters arrived damaged",
        (
            "Hi,\n\nThe box of 12 replacement filters for our X1 vacuums (order KF-886702) "
            "arrived this morning with the carton crushed: 4 of the filters are bent and "
            "won't fit. Can you send replacements? I can send photos if needed.\n\nOliver"
        ),
        days=2,
        at="17:05",
        team="aftersales",
        kind=Kind.AFTER_SALES,
        steps=(
            _assign(25, DEMO_USERNAME, DEMO_USERNAME, "aftersales"),
            _tag(1, DEMO_USERNAME, "shipping", "replacement"),
            _reply(
                20,
                DEMO_USERNAME,
                "Hi Oliver,\n\nSorry to hear that. No need to send the damaged filters back: "
                "replacement order KF-886955 (4 filters) ships today by DPD next-day. Could "
                "you send a photo of the crushed carton so we can file a claim with the "
                "courier?\n\nBest regards,\nDemo",
            ),
            _in(3 * HOUR, "Thanks. I'll send the photos later today once I'm back at the office."),
            _status(10, DEMO_USERNAME, _S.ON_HOLD),
            _note(1, DEMO_USERNAME, "On hold until the photos arrive; then file the DPD claim."),
        ),
    ),
    _Story(
        "zhang.wei",
        Channel.EMAIL,
        "zh-hans",
        "想再买一台 X1 Pro，老客户有优惠吗？",
        (
            "陈伟你好，上次你说 X1 Pro 出了新款，带自动集尘。我想给父母家再买一台，"
            "老客户有没有优惠？另外能不能开电子发票，抬头写我个人名字就行。"
        ),
        days=1,
        at="18:30",
        team="key-accounts",
        steps=(
            _assign(10, None, "chen.wei", "key-accounts"),
            _reply(
                55,
                "chen.wei",
                "张先生您好！感谢一直以来的支持。X1 Pro 官方价 3,299 元，"
                "您是 VIP 客户，可以享受：\n"
                "• 老客户专享价 2,899 元；\n"
                "• 赠送一年份耗材包（边刷、滤网、集尘袋）；\n"
                "• 免费上门安装，并教老人使用。\n"
                "电子发票没问题，下单后开个人抬头发到您的邮箱。需要的话我把专属下单链接发给您。",
            ),
            _tag(1, "chen.wei", "发票", "销售机会"),
            _in(14 * HOUR, "好的，把链接发我吧。父母家在杭州西湖区，能送货上门吗？"),
        ),
    ),
    _Story(
        "li.xiuying",
        Channel.WEB,
        "zh-hans",
        "净化器滤网多久换一次？在哪里买？",
        (
            "你好，我家的净化器用了快一年了，最近机器上的灯变成红色了，是不是要换滤网了？"
            "滤网在哪里买，型号是什么？我不太会网上买东西，能不能打电话告诉我一下。"
            "我的电话 136 0228 4417，上午在家。"
        ),
        days=1,
        at="09:30",
        team="presales",
    ),
    _Story(
        "sarah.chen",
        Channel.EMAIL,
        "en",
        "Does the Smart Kettle K2 work on 110V?",
        (
            "Hi there,\n\n"
            "I'm moving from Shanghai to Vancouver next month and would love to bring my K2 "
            "kettle. Does it support 110V/60Hz, or is there a North American version? Also, "
            "will the app still work with a Canadian account?\n\nThanks!\nSarah"
        ),
        days=0,
        at="",
        minutes_ago=5 * HOUR,
    ),
    _Story(
        "wong.shukfan",
        Channel.PHONE,
        "zh-hant",
        "緊急：辦公室 20 部空氣清新機全部離線",
        (
            "你好，我係恒信貿易嘅黃淑芬。今朝你哋推送咗韌體更新之後，"
            "我哋中環辦公室 20 部 P3 空氣清新機喺 App 度全部顯示「離線」，"
            "手動開機都冇反應，有幾部仲不停閃紅燈。下晝有客戶嚟開會，麻煩盡快處理！"
        ),
        days=0,
        at="",
        minutes_ago=3 * HOUR,
        team="key-accounts",
        metadata={"call_id": "CTI-21177", "duration_seconds": 245, "from": "+85228153360"},
        steps=(
            _assign(2, None, DEMO_USERNAME, "key-accounts"),
            _priority(1, DEMO_USERNAME, Priority.URGENT),
            _kind(0, DEMO_USERNAME, Kind.INCIDENT),
            _tag(0, DEMO_USERNAME, "firmware", "outage"),
            _note(
                10,
                "amy.wong",
                "研發確認：今早推送嘅 P3 固件 v2.3.1 喺香港區 Wi-Fi 頻段設定有 bug，"
                "已暫停推送，準備回滾到 v2.2.8。受影響設備約 340 部，恒信佔 20 部。",
            ),
            _reply(
                6,
                DEMO_USERNAME,
                "黃小姐你好，非常抱歉影響到你哋辦公室。問題來自今早推送嘅固件 v2.3.1，"
                "我哋已即時停止推送，研發團隊正喺度回滾，預計兩小時內所有設備會自動恢復。"
                "急用嘅話可以長按電源鍵 10 秒重啟，用離線手動模式照常淨化空氣。"
                "我會親自跟進，有進展即刻通知你。",
            ),
            _in(80, "多謝。而家大部分已經恢復，但仲有 5 部喺會議室嗰邊顯示離線。"),
            _note(5, DEMO_USERNAME, "已請 Amy 安排技術員 14:00 上門處理剩餘 5 部。"),
        ),
    ),
    _Story(
        "chen.jing",
        Channel.PHONE,
        "zh-hans",
        "门店展示机 P3 运行时有异响",
        (
            "你好，我是华联超市徐汇店的店长陈静。我们店门口那台 P3 展示机，"
            "今天上午开始一开高档就“咔咔”响，声音很大，顾客都在问。已经先关机了。"
            "能不能尽快派人来看一下？周末店里有促销活动。"
        ),
        days=0,
        at="",
        minutes_ago=2 * HOUR,
        team="aftersales",
        priority=Priority.HIGH,
        kind=Kind.AFTER_SALES,
        metadata={"call_id": "CTI-21183", "duration_seconds": 138, "from": "+8613816620475"},
    ),
    _Story(
        "visitor",
        Channel.CHAT,
        "zh-hans",
        "X1 和 X1 Pro 有什么区别？",
        "在吗？想问下扫地机器人 X1 和 X1 Pro 有什么区别，家里有猫，掉毛比较多，买哪个好？",
        days=0,
        at="",
        minutes_ago=40,
        team="presales",
        metadata={"page": "https://www.hexi-home.example/products/x1-pro"},
        steps=(_in(2, "Pro 贵 800 块，值得吗？"),),
    ),
)

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


DEMO_SITE_KEY = "demo-shop"

_CANNED = (
    (
        "hello",
        "问候 Greeting",
        "{{customer.name|}}您好，我是客服{{agent.name}}，很高兴为您服务。请问有什么可以帮您？",
    ),
    ("order", "订单号 Order number", "麻烦提供一下您的订单号，我马上为您查询。"),
    ("refund", "退款流程 Refund", "退款会在审核通过后 3 个工作日内原路退回，请留意账户通知。"),
    ("warranty", "三包政策 Warranty", "本产品享受三包服务：7 天退货，15 天换货，1 年保修。"),
    (
        "thanks",
        "Thanks (English)",
        "Thank you for contacting us. Is there anything else I can help with?",
    ),
)


def ensure_livechat_demo() -> None:
    """The demo's chat widget (site key ``demo-shop``) and canned replies; idempotent."""
    from kefu.livechat.models import Widget
    from kefu.service.models import CannedReply

    team = Team.objects.filter(slug="presales").first()
    Widget.objects.get_or_create(
        site_key=DEMO_SITE_KEY,
        defaults={
            "name": "禾喜家居 Hexi Home",
            "team": team,
            "greeting": "您好！有什么可以帮您？ Hi, how can we help?",
            "topics": "订单与发货 Orders\n售后与保修 After-sales\n产品咨询 Products",
            "allowed_origins": "http://127.0.0.1:8000\nhttp://localhost:8000",
        },
    )
    for shortcut, title, body in _CANNED:
        CannedReply.objects.get_or_create(
            shortcut=shortcut, owner=None, defaults={"title": title, "body": body}
        )


def ensure_analytics_demo() -> None:
    """Sixteen weeks of history, orders and the rollups built from them (the dashboards)."""
    from kefu.analytics.demo import ensure_analytics_demo as ensure

    ensure()


def ensure_service_demo() -> None:
    """A China business calendar, SLA policies, an escalation to the supervisor and a VIP's
    complaint whose countdown runs live (kefu/service/demo.py); idempotent."""
    from kefu.service.demo import ensure_service_demo as ensure

    ensure(DEMO_USERNAME)


def ensure_care_demo() -> None:
    """Proactive care: a customer whose birthday is today and a greeting that uses their
    memory, a VIP segment with a draft campaign, a repair follow-up (kefu/care/demo.py)."""
    from kefu.care.demo import ensure_care_demo as ensure

    ensure(DEMO_USERNAME)


def ensure_kb_demo() -> None:
    """The demo help center: categories, articles (some translated), FAQ entries and one
    internal article, written through the knowledge-base actions; idempotent."""
    from kefu.kb import actions as kb
    from kefu.kb.demo_articles import ARTICLES, CATEGORIES
    from kefu.kb.models import Article, Category, Section

    if Article.objects.filter(title=ARTICLES[0].title).exists():
        return
    sections: dict[str, Section] = {}
    categories: dict[str, Category] = {}
    for position, (slug, name, names, description, subs) in enumerate(CATEGORIES):
        category, _ = Category.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "names": names,
                "description": description,
                "position": position,
            },
        )
        categories[slug] = category
        for sub_position, (sub_slug, sub_name, sub_names) in enumerate(subs):
            sections[sub_slug], _ = Section.objects.get_or_create(
                category=category,
                slug=sub_slug,
                defaults={"name": sub_name, "names": sub_names, "position": sub_position},
            )
    author = get_user_model()._default_manager.filter(username="li.na").first()
    for item in ARTICLES:
        article = kb.create_article(
            actor=author,
            title=item.title,
            language="zh-hans",
            body_html=item.body,
            kind=item.kind,
            category=categories[item.category],
            section=sections.get(item.section),
            internal=item.internal,
            alternatives=item.alternatives,
            tags=item.tags,
            status=Article.Status.PUBLISHED,
        )
        for language, (title, body) in item.translations.items():
            kb.add_translation(
                article,
                actor=author,
                language=language,
                title=title,
                body_html=body,
                status=Article.Status.PUBLISHED,
            )
        if item.views:  # demo read counts, so "most read" has an order
            Article.objects.filter(group_id=article.group_id).update(views=item.views)


def load_demo() -> bool:
    """Fill the database with the demo help desk. False (and nothing done) if it is there."""
    user_model = get_user_model()
    if user_model._default_manager.filter(username=DEMO_USERNAME).exists():
        ensure_livechat_demo()
        ensure_kb_demo()
        ensure_analytics_demo()
        ensure_service_demo()
        ensure_care_demo()
        return False
    with transaction.atomic():
        now = timezone.now()
        clock = _Clock(now)
        teams = _make_teams()
        agents = _make_agents(teams)
        organizations = _make_organizations()
        starts = [clock.start(story) for story in _STORIES]
        first_contact: dict[str, datetime] = {}
        for story, start in zip(_STORIES, starts, strict=True):
            first_contact[story.customer] = min(start, first_contact.get(story.customer, now))
        customers = {
            spec.key: _make_customer(
                spec, agents, teams, organizations, clock, first_contact.get(spec.key, now)
            )
            for spec in _CUSTOMERS
        }
        for story, start in zip(_STORIES, starts, strict=True):
            _play(story, start, customers, agents, teams, clock)
        ensure_livechat_demo()
        ensure_kb_demo()
    ensure_analytics_demo()
    ensure_care_demo()
    ensure_service_demo()
    logger.info(
        "demo loaded: %d agents, %d customers, %d conversations",
        len(agents),
        len(customers),
        len(_STORIES),
    )
    return True


def _make_teams() -> dict[str, Team]:
    return {
        slug: Team.objects.create(slug=slug, name=name, description=description)
        for slug, name, description in _TEAMS
    }


def _make_agents(teams: dict[str, Team]) -> dict[str, Any]:
    user_model = get_user_model()
    agents: dict[str, Any] = {}
    for spec in _AGENTS:
        supervisor = spec.role != AgentProfile.Role.AGENT
        user = user_model._default_manager.create_user(
            username=spec.username,
            email=f"{spec.username}@hexi-home.example",
            password=PASSWORD,
            first_name=spec.first_name,
            last_name=spec.last_name,
            is_staff=supervisor,
            is_superuser=supervisor,
        )
        profile = AgentProfile.objects.create(
            user=user,
            display_name=spec.display_name,
            role=spec.role,
            language=spec.language,
            timezone=spec.timezone,
            signature=spec.signature,
            presence=spec.presence,
            skills=spec.skills,
        )
        profile.teams.set([teams[slug] for slug in spec.teams])
        agents[spec.username] = user
    for slug, username in _TEAM_LEADS.items():
        Team.objects.filter(pk=teams[slug].pk).update(lead=agents[username])
    return agents


def _make_organizations() -> dict[str, Organization]:
    return {
        key: Organization.objects.create(name=name, domain=domain, tier=tier, notes=notes)
        for key, name, domain, tier, notes in _ORGANIZATIONS
    }


def _make_customer(
    spec: _Customer,
    agents: dict[str, Any],
    teams: dict[str, Team],
    organizations: dict[str, Organization],
    clock: _Clock,
    first_contact: datetime,
) -> Customer:
    demo = agents[DEMO_USERNAME]
    customer = cust.resolve_customer(
        email=spec.email, phone=spec.phone, visitor_id=spec.visitor, name=spec.name
    )
    cust.update_profile(
        customer,
        actor=demo,
        language=spec.language,
        birthday=spec.birthday,
        organization=organizations[spec.organization] if spec.organization else None,
    )
    if spec.tier != Tier.NORMAL:
        cust.set_tier(customer, tier=spec.tier, actor=demo)
    author = agents.get(spec.owner, demo)
    for kind, value in spec.preferences:
        cust.set_preference(customer, actor=author, kind=kind, value=value)
    for body in spec.notes:
        cust.add_note(customer, actor=author, body=body)
    # No action exists yet for the account manager, customer tags or the portal login.
    fields: dict[str, Any] = {}
    if spec.owner:
        fields["owner"] = agents[spec.owner]
    if spec.team:
        fields["team"] = teams[spec.team]
    if spec.portal_user:
        fields["user"] = get_user_model()._default_manager.create_user(
            username=spec.portal_user,
            email=spec.email,
            password=PASSWORD,
            first_name=spec.name,
        )
    since = min(
        clock.now - timedelta(days=spec.since_days, hours=3), first_contact - timedelta(minutes=1)
    )
    Customer.objects.filter(pk=customer.pk).update(created_at=since, updated_at=since, **fields)
    if spec.tags:
        customer.tags.add(*[Tag.objects.get_or_create(name=name)[0] for name in spec.tags])
    clock.stamp(since)
    customer.refresh_from_db()
    return customer


def _play(
    story: _Story,
    when: datetime,
    customers: dict[str, Customer],
    agents: dict[str, Any],
    teams: dict[str, Team],
    clock: _Clock,
) -> Conversation:
    """Open the conversation, play its steps through the actions, then date it all back."""
    customer = customers[story.customer]
    conversation = conv.open_conversation(
        customer=customer,
        channel=story.channel,
        subject=story.subject,
        body_text=story.body,
        team=teams[story.team] if story.team else None,
        priority=story.priority,
        kind=story.kind,
        language=story.language,
        metadata=story.metadata,
    )
    clock.stamp(when)
    started, solved_at = when, None
    for step in story.steps:
        when = clock.after(when, step.after)
        actor = agents[step.who] if step.who else None
        if step.op == "in":
            conv.receive_message(conversation, body_text=step.text)
        elif step.op == "reply":
            conv.send_reply(
                conversation, agent=actor, body_text=step.text, status=step.value or None
            )
        elif step.op == "note":
            conv.add_note(conversation, agent=actor, body_text=step.text)
        elif step.op == "assign":
            team = teams[step.team] if step.team else None
            conv.assign(conversation, actor=actor, assignee=agents[step.value], team=team)
        elif step.op == "status":
            conv.set_status(conversation, actor=actor, status=step.value)
        elif step.op == "priority":
            conv.set_priority(conversation, actor=actor, priority=step.value)
        elif step.op == "kind":
            conv.set_kind(conversation, actor=actor, kind=step.value)
        elif step.op == "tag":
            conv.tag(conversation, actor=actor, add=step.tags)
        else:  # pragma: no cover - a typo in the stories above
            raise ValueError(f"unknown demo step {step.op!r}")
        if step.op in ("reply", "status") and step.value == Status.SOLVED:
            solved_at = when
        clock.stamp(when)
    conversation.refresh_from_db()
    _date_back(conversation, started=started, ended=when, solved_at=solved_at)
    return conversation


def _date_back(
    conversation: Conversation, *, started: datetime, ended: datetime, solved_at: datetime | None
) -> None:
    """Set the conversation's own clocks from its (already dated) messages."""
    inbound, outbound = [], []
    for direction, created in conversation.messages.values_list("direction", "created_at"):
        if direction == Message.Direction.IN:
            inbound.append(created)
        elif direction == Message.Direction.OUT:
            outbound.append(created)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=started,
        updated_at=ended,
        last_message_at=max(inbound + outbound, default=started),
        last_inbound_at=max(inbound, default=None),
        first_responded_at=min(outbound, default=None),
        solved_at=solved_at if conversation.status in (Status.SOLVED, Status.CLOSED) else None,
    )


class _Clock:
    """Moves what the actions just wrote (messages, timeline, memory) to a moment in the past.

    Everything is written in one transaction, one step at a time, so the rows added since the
    last stamp are exactly those of the step being dated.
    """

    _DATED: tuple[tuple[type[models.Model], tuple[str, ...]], ...] = (
        (Message, ("created_at",)),
        (TimelineEntry, ("created_at",)),
        (Preference, ("created_at", "updated_at")),
        (CustomerNote, ("created_at",)),
    )

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._rng = random.Random(2046)
        self._marks = {
            model: model._default_manager.aggregate(last=models.Max("pk"))["last"] or 0
            for model, _ in self._DATED
        }

    def start(self, story: _Story) -> datetime:
        """When the story's first message arrived: local time ``at`` ``days`` ago, but early
        enough for every step to lie in the past."""
        if story.at:
            hour, minute = (int(part) for part in story.at.split(":"))
            day = timezone.localtime(self.now) - timedelta(days=story.days)
            start = day.replace(hour=hour, minute=minute, second=self._rng.randint(0, 59))
        else:
            start = self.now - timedelta(minutes=story.minutes_ago)
        length = timedelta(minutes=sum(step.after for step in story.steps) + 2)
        return min(start, self.now - length).replace(microsecond=0)

    def after(self, when: datetime, minutes: int) -> datetime:
        later = when + timedelta(minutes=minutes, seconds=self._rng.randint(5, 50))
        return min(later, self.now - timedelta(seconds=1))

    def stamp(self, when: datetime) -> None:
        for model, fields in self._DATED:
            ids = list(
                model._default_manager.filter(pk__gt=self._marks[model]).values_list(
                    "pk", flat=True
                )
            )
            if ids:
                model._default_manager.filter(pk__in=ids).update(**dict.fromkeys(fields, when))
                self._marks[model] = max(ids)
